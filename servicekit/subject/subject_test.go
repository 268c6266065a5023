package subject

import (
	"errors"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"ec2 name", "ip-10-0-0-1.ec2.internal", "ip-10-0-0-1_ec2_internal", nil},
		{"gke name", "gke-prod-pool-1-a1b2c3d4-xk2z", "gke-prod-pool-1-a1b2c3d4-xk2z", nil},
		{"fqdn", "node01.example.com", "node01_example_com", nil},
		{"underscore escaped", "a_b", "a=5Fb", nil},
		{"equals escaped", "a=b", "a=3Db", nil},
		{"slash", "a/b", "a=2Fb", nil},
		{"dollar", "$SYS", "=24SYS", nil},
		{"unicode", "nœud", "n=C5=93ud", nil},
		{"upper case kept", "Node-A", "Node-A", nil},
		{"empty", "", "", ErrInvalidName},
		{"star", "node*", "", ErrInvalidName},
		{"greater", "node>", "", ErrInvalidName},
		{"space", "my node", "", ErrInvalidName},
		{"tab", "node\t1", "", ErrInvalidName},
		{"newline", "node\n", "", ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Encode(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Encode(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if err != nil {
				return
			}
			back, err := Decode(got)
			if err != nil || back != tt.in {
				t.Fatalf("Decode(%q) = %q, %v; want %q", got, back, err, tt.in)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tok := range []string{"", "a.b", "a*", "a>", "a b", "=", "=4", "=zz", "=2e", "=41", "=2E", "=2A", "=20", "a=5f"} {
		if got, err := Decode(tok); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Decode(%q) = %q, %v; want ErrInvalidName", tok, got, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	s := Space{Prefix: "nw"}
	node := "ip-10-0-0-1.ec2.internal"
	build := []struct {
		kind Kind
		f    func() (string, error)
		want string
	}{
		{KindNodeSample, func() (string, error) { return s.NodeSample(node) }, "nw.sample.node.ip-10-0-0-1_ec2_internal"},
		{KindContainerSamples, func() (string, error) { return s.ContainerSamples(node) }, "nw.sample.container.ip-10-0-0-1_ec2_internal"},
		{KindHealth, func() (string, error) { return s.Health(node) }, "nw.health.ip-10-0-0-1_ec2_internal"},
		{KindProblem, func() (string, error) { return s.Problem(node) }, "nw.problem.ip-10-0-0-1_ec2_internal"},
		{KindRebootRequired, func() (string, error) { return s.RebootRequired(node) }, "nw.reboot.required.ip-10-0-0-1_ec2_internal"},
		{KindRebootStatus, func() (string, error) { return s.RebootStatus(node) }, "nw.reboot.status.ip-10-0-0-1_ec2_internal"},
		{KindLog, func() (string, error) { return s.Log("kernel-monitor", node) }, "nw.log.kernel-monitor.ip-10-0-0-1_ec2_internal"},
	}
	for _, b := range build {
		t.Run(b.kind.String(), func(t *testing.T) {
			got, err := b.f()
			if err != nil || got != b.want {
				t.Fatalf("got %q, %v; want %q", got, err, b.want)
			}
			p, err := s.Parse(got)
			if err != nil {
				t.Fatalf("Parse(%q): %v", got, err)
			}
			if p.Kind != b.kind || p.Node != node {
				t.Fatalf("Parse(%q) = %+v", got, p)
			}
		})
	}
	if _, err := s.Problem("bad node"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Problem(bad node) error = %v", err)
	}
	if p, err := s.Parse(s.Dead("SAMPLES")); err != nil || p.Kind != KindDead || p.Stream != "SAMPLES" {
		t.Fatalf("Parse(dead) = %+v, %v", p, err)
	}
	for _, bad := range []string{"other.problem.x", "nw.problem", "nw.problem.a.b", "nw.nope.x", "nw.problem.a=zz"} {
		if _, err := s.Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, ok := range []string{"nw", "prod.nw", "a-b_c"} {
		if err := ValidatePrefix(ok); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".nw", "nw.", "n w", "nw.*", "nw.>", "a..b"} {
		if err := ValidatePrefix(bad); err == nil {
			t.Errorf("ValidatePrefix(%q) succeeded", bad)
		}
	}
}

// validToken mirrors what NATS accepts as one subject token and as a KV key token.
func validToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(plain(c) || c == '_' || c == '=') {
			return false
		}
	}
	return true
}

func FuzzEncode(f *testing.F) {
	for _, seed := range []string{"ip-10-0-0-1.ec2.internal", "a_b=c", "node*", "", " ", "nœud", "\xff\xfe", "=41", "$JS.API"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tok, err := Encode(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("Encode(%q): unexpected error %v", name, err)
			}
			if name != "" && !strings.ContainsAny(name, "*> \t\n\r\v\f") {
				t.Fatalf("Encode(%q) rejected a valid name: %v", name, err)
			}
			return
		}
		if !validToken(tok) {
			t.Fatalf("Encode(%q) = %q: not a single valid token", name, tok)
		}
		back, err := Decode(tok)
		if err != nil || back != name {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", name, back, err)
		}
		// Decoding is canonical: any token Decode accepts re-encodes to itself.
		if dec, err := Decode(name); err == nil {
			if re, err := Encode(dec); err != nil || re != name {
				t.Fatalf("Encode(Decode(%q)) = %q, %v", name, re, err)
			}
		}
	})
}

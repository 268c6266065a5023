package alerts

import (
	"context"
	"errors"
	"flag"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestFilterBlocks(t *testing.T) {
	// kured's matchesRegex: no regexp blocks everything; otherwise match == MatchOnly blocks.
	tests := []struct {
		name      string
		re        string
		matchOnly bool
		alert     string
		want      bool
	}{
		{"no regexp blocks", "", false, "DiskFull", true},
		{"no regexp blocks with match-only", "", true, "DiskFull", true},
		{"matching name is ignored", "^Watchdog$", false, "Watchdog", false},
		{"other name blocks", "^Watchdog$", false, "DiskFull", true},
		{"match-only: matching name blocks", "^Disk", true, "DiskFull", true},
		{"match-only: other name ignored", "^Disk", true, "Watchdog", false},
		{"unanchored like kured", "dog", false, "Watchdog", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Filter{MatchOnly: tt.matchOnly}
			if tt.re != "" {
				f.Regexp = regexp.MustCompile(tt.re)
			}
			if got := f.Blocks(tt.alert); got != tt.want {
				t.Errorf("Blocks(%q) = %v, want %v", tt.alert, got, tt.want)
			}
		})
	}
}

func TestSelfAlert(t *testing.T) {
	ign := SelfAlert("KernelDeadlock", "node-a")
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"alertname": "KernelDeadlock", "node": "node-a", "severity": "warning"}, true},
		{map[string]string{"alertname": "KernelDeadlock", "node": "node-b"}, false},
		{map[string]string{"alertname": "KernelDeadlock"}, false},
		{map[string]string{"alertname": "DiskFull", "node": "node-a"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := ign(tt.labels); got != tt.want {
			t.Errorf("SelfAlert(KernelDeadlock, node-a)(%v) = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if SelfAlert("", "node-a") != nil || SelfAlert("KernelDeadlock", "") != nil {
		t.Error("SelfAlert with an empty condition or node must ignore nothing (nil)")
	}
}

// fakeChecker returns fixed names and error.
type fakeChecker struct {
	names []string
	err   error
}

func (f fakeChecker) Blocking(context.Context, Ignore) ([]string, error) { return f.names, f.err }

func TestCheck(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name        string
		c           Checker
		wantBlocked bool
		wantReasons []string
	}{
		{"no source never blocks", nil, false, nil},
		{"no alerts", fakeChecker{}, false, nil},
		{"alerts block", fakeChecker{names: []string{"A", "B"}}, true, []string{"A", "B"}},
		{"unreachable blocks", fakeChecker{err: down}, true, []string{"alert check failed: connection refused"}},
		{"multi unions and keeps errors", Multi{fakeChecker{names: []string{"B", "A"}}, fakeChecker{names: []string{"A"}, err: down}, nil},
			true, []string{"A", "B", "alert check failed: connection refused"}},
		{"multi of quiet sources", Multi{fakeChecker{}, fakeChecker{}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocked, reasons := Check(context.Background(), tt.c, nil)
			if blocked != tt.wantBlocked || !slices.Equal(reasons, tt.wantReasons) {
				t.Errorf("Check = %v, %q; want %v, %q", blocked, reasons, tt.wantBlocked, tt.wantReasons)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; empty means valid
		wantNil bool   // New returns no checker
		wantT   string // type of the checker
	}{
		{name: "no URL means no check", wantNil: true},
		{name: "prometheus", args: []string{"--prometheus-url=http://prom:9090"}, wantT: "*alerts.Prometheus"},
		{name: "alertmanager", args: []string{"--alertmanager-url=https://am.example/prefix"}, wantT: "*alerts.Alertmanager"},
		{name: "both", args: []string{"--prometheus-url=http://p", "--alertmanager-url=http://a"}, wantT: "alerts.Multi"},
		{name: "kured flags", args: []string{"--prometheus-url=http://p", "--alert-filter-regexp=^(Watchdog|Info.*)$", "--alert-firing-only", "--alert-filter-match-only"}, wantT: "*alerts.Prometheus"},
		{name: "bad regexp", args: []string{"--alert-filter-regexp=("}, wantErr: "alert-filter-regexp"},
		{name: "URL without scheme", args: []string{"--prometheus-url=prom:9090"}, wantErr: "prometheus-url"},
		{name: "URL without host", args: []string{"--alertmanager-url=http://"}, wantErr: "alertmanager-url"},
		{name: "negative timeout", args: []string{"--alert-check-timeout=-1s"}, wantErr: "alert-check-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := New(o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tt.wantNil {
				if c != nil {
					t.Fatalf("New = %T, want nil", c)
				}
				return
			}
			if got := typeName(c); got != tt.wantT {
				t.Fatalf("New = %s, want %s", got, tt.wantT)
			}
		})
	}
}

func typeName(c Checker) string {
	switch c.(type) {
	case *Prometheus:
		return "*alerts.Prometheus"
	case *Alertmanager:
		return "*alerts.Alertmanager"
	case Multi:
		return "alerts.Multi"
	default:
		return "other"
	}
}

// closedURL returns an http URL on a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

package rebootcmd

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// syncBuffer is a bytes.Buffer safe to read while the command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPublish(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	now := time.Unix(1700000000, 123).UTC()
	for _, tc := range []struct {
		name               string
		args               []string
		id, reason, bootID string
	}{
		{"defaults", []string{"ip-10-0-0-1.ec2.internal"}, "cli:ip-10-0-0-1.ec2.internal:1700000000000000123", DefaultReason, ""},
		{"flags after the node", []string{"n2", "--request-id", "ticket-42", "--reason", "kernel 6.8", "--boot-id", "b7"},
			"ticket-42", "kernel 6.8", "b7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			fs := flag.NewFlagSet("", flag.ContinueOnError)
			c.AddFlags(fs)
			if err := fs.Parse(SplitArgs(tc.args, &c)); err != nil {
				t.Fatal(err)
			}
			out := &bytes.Buffer{}
			c.NATS.URL, c.Stdout, c.Now = srv.URL(), out, func() time.Time { return now }
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := Run(ctx, c); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.id+"\n" {
				t.Errorf("stdout = %q, want the request id %q", out, tc.id)
			}
			node := tc.args[0]
			subj, err := subject.Space{}.RebootRequired(node)
			if err != nil {
				t.Fatal(err)
			}
			st, err := js.Stream(ctx, topology.StreamReboot)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := st.GetLastMsgForSubject(ctx, subj)
			if err != nil {
				t.Fatalf("no request on %s: %v", subj, err)
			}
			if got := raw.Header.Get(jetstream.MsgIDHeader); got != tc.id {
				t.Errorf("message id = %q, want %q", got, tc.id)
			}
			var r nwv1.RebootRequired
			if err := proto.Unmarshal(raw.Data, &r); err != nil {
				t.Fatal(err)
			}
			if r.Node != node || r.RequestId != tc.id || r.Reason != tc.reason || r.Origin != "cli" ||
				r.BootId != tc.bootID || r.Condition != "" || !r.Time.AsTime().Equal(now) {
				t.Errorf("request = %v, want node %s, id %s, reason %q, origin cli, boot %q, time %s",
					&r, node, tc.id, tc.reason, tc.bootID, now)
			}
		})
	}
}

// --wait prints the node's statuses from the request on and exits with the reboot's outcome; a
// status stored before the request is not followed.
func TestWait(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	pub := publish.New(js, prometheus.NewRegistry())
	ctx := context.Background()
	const (
		requested = nwv1.RebootPhase_REBOOT_PHASE_REQUESTED
		draining  = nwv1.RebootPhase_REBOOT_PHASE_DRAINING
		completed = nwv1.RebootPhase_REBOOT_PHASE_COMPLETED
		failed    = nwv1.RebootPhase_REBOOT_PHASE_FAILED
	)
	for _, tc := range []struct {
		name, node, timeout string
		phases              []nwv1.RebootPhase
		code                int
		lines               []string
		stderr              string
	}{
		{"completed", "n1", "30s", []nwv1.RebootPhase{requested, draining, completed}, daemon.ExitOK,
			[]string{"REQUESTED  step 0", "DRAINING   step 1", "COMPLETED  step 2"}, ""},
		{"failed", "n2", "30s", []nwv1.RebootPhase{requested, failed, completed}, daemon.ExitFailed,
			[]string{"REQUESTED  step 0", "FAILED     step 1"}, "reboot failed: step 1"},
		{"timeout", "n3", "300ms", nil, daemon.ExitFailed, nil, "wait for the reboot: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subj, err := subject.Space{}.RebootStatus(tc.node)
			if err != nil {
				t.Fatal(err)
			}
			status := func(reqID string, seq int, phase nwv1.RebootPhase) {
				t.Helper()
				st := &nwv1.RebootStatus{Node: tc.node, Time: timestamppb.New(time.Unix(1700000000+int64(seq), 0)),
					RequestId: reqID, Phase: phase, Detail: fmt.Sprintf("step %d", seq), Seq: uint64(seq)}
				if _, err := pub.Publish(ctx, subj, fmt.Sprintf("%s:%s:%d", tc.node, reqID, seq), st, nil); err != nil {
					t.Fatal(err)
				}
			}
			status("old", 99, completed) // an earlier reboot's end: must not end this wait

			var out, errOut syncBuffer
			code := make(chan int, 1)
			go func() {
				code <- Main(ctx, []string{tc.node, "--wait", "--timeout", tc.timeout, "--nats-url", srv.URL()}, &out, &errOut)
			}()
			var id string
			testenv.WaitFor(t, 10*time.Second, "the request id on stdout", func() bool {
				id, _, _ = strings.Cut(out.String(), "\n")
				return strings.HasPrefix(id, "cli:"+tc.node+":")
			})
			for i, p := range tc.phases {
				status(id, i, p)
			}
			select {
			case got := <-code:
				if got != tc.code {
					t.Errorf("exit = %d, want %d (stderr %q)", got, tc.code, errOut.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("still waiting after the statuses; stdout:\n%s", out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")[1:]
			if len(lines) != len(tc.lines) {
				t.Fatalf("status lines:\n%s\nwant %d lines", strings.Join(lines, "\n"), len(tc.lines))
			}
			for i, want := range tc.lines {
				if !strings.HasSuffix(lines[i], want) || !strings.HasPrefix(lines[i], "2023-11-14T22:13:2") {
					t.Errorf("line %d = %q, want the status time and %q", i, lines[i], want)
				}
			}
			if e := errOut.String(); (tc.stderr == "" && e != "") || !strings.Contains(e, tc.stderr) {
				t.Errorf("stderr = %q, want %q", e, tc.stderr)
			}
		})
	}
}

// A missing or unusable node is a configuration error (exit 2) found before NATS is dialled.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no node", nil, "want one <node>"},
		{"two nodes", []string{"n1", "n2"}, "want one <node>"},
		{"wildcard", []string{"n*"}, "invalid name"},
		{"negative timeout", []string{"n1", "--timeout", "-1s"}, "--timeout"},
		{"empty reason", []string{"n1", "--reason", ""}, "--reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(tc.args, "--nats-url", "nats://127.0.0.1:1")
			if code := Main(context.Background(), args, &out, &errOut); code != daemon.ExitConfig {
				t.Errorf("exit = %d, want %d", code, daemon.ExitConfig)
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr = %q, want %q", errOut.String(), tc.stderr)
			}
		})
	}
	if err := Run(context.Background(), Config{}); !config.IsConfigError(err) {
		t.Errorf("Run without a node = %v, want a configuration error", err)
	}
}

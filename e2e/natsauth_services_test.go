package e2e

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/alerter"
	"github.com/nodewarden/nodewarden/services/collector"
	"github.com/nodewarden/nodewarden/services/detector"
	"github.com/nodewarden/nodewarden/services/rebooter"
	"github.com/nodewarden/nodewarden/services/sink"
	"github.com/nodewarden/nodewarden/services/sink/slack/slackfake"
)

// syncBuffer is a service's log, shown when the test fails.
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

// runAs runs a service in the background as its own NATS user until the test ends, as
// testenv.RunService does with an anonymous one: it waits until /readyz answers 200 and
// returns the HTTP base URL; at cleanup the service must stop with nil within 15 s.
func (s *authServer) runAs(t *testing.T, user string, run func(ctx context.Context, c daemon.Common) error) string {
	t.Helper()
	c := testenv.Common(s.url)
	c.NATS.User, c.NATS.Password = user, s.passwords[user]
	logs := &syncBuffer{}
	c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr := make(chan string, 1)
	c.OnListen = func(_, a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run returned %v after cancel", user, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s: Run did not return within 15s of cancel", user)
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", user, logs.String())
		}
	})
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("%s stopped before listening: %v\n%s", user, err, logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("%s not listening after 15s", user)
	}
	testenv.WaitFor(t, 30*time.Second, user+"'s /readyz to answer 200", func() bool { return httpOK(base+"/readyz") != "" })
	return base
}

// httpOK is a 200 response's body, or "".
func httpOK(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// recorder keeps the problems and reboot statuses published, seen by admin.
type recorder struct {
	mu       sync.Mutex
	problems []*nwv1.Problem
	statuses []*nwv1.RebootStatus
}

func record(t *testing.T, admin *client) *recorder {
	t.Helper()
	r := &recorder{}
	sp := subject.Space{}
	for _, filter := range []string{sp.All("problem"), sp.All("reboot.status")} {
		if _, err := admin.nc.Subscribe(filter, func(m *nats.Msg) {
			pm, err := schema.Decode(sp, m.Subject, m.Data)
			if err != nil {
				t.Errorf("%s: %v", m.Subject, err)
				return
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			switch v := pm.(type) {
			case *nwv1.Problem:
				r.problems = append(r.problems, v)
			case *nwv1.RebootStatus:
				r.statuses = append(r.statuses, v)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *recorder) problem(node, reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		if p.Node == node && p.Reason == reason {
			return true
		}
	}
	return false
}

func (r *recorder) phase(node string, ph nwv1.RebootPhase) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.statuses {
		if s.Node == node && s.Phase == ph {
			return true
		}
	}
	return false
}

// TestNATSAuthServices: every service, run in process with its own user of auth.conf, becomes
// ready and does its job over the bus: the collector's samples reach the sink's Prometheus
// output, its reboot sentinel becomes a reboot the rebooter completes, a kernel oops published
// as the collector becomes the detector's problem and condition state, which Slack (through the
// sink) and the alerter take. The server logs no permissions violation meanwhile.
func TestNATSAuthServices(t *testing.T) {
	srv := startAuthServer(t)
	t.Cleanup(func() {
		// Registered before the services start, so it runs after they stopped.
		if v := srv.log.Violations(); len(v) > 0 {
			t.Errorf("the server logged %d permissions violations:\n%s", len(v), strings.Join(v, "\n"))
		}
	})
	admin := srv.dial(t, "admin")
	rec := record(t, admin)
	const node = "natsauth-node.example"
	dir := t.TempDir()
	sentinel := filepath.Join(dir, "reboot-required")
	if err := os.WriteFile(sentinel, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fake := slackfake.New()
	t.Cleanup(fake.Close)

	srv.runAs(t, "detector", func(ctx context.Context, c daemon.Common) error {
		var cfg detector.Config
		cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
		cfg.Common, cfg.ReplicaID, cfg.LeaseTTL = c, "detector-0", 2*time.Second
		return detector.Run(ctx, cfg)
	})
	sinkURL := srv.runAs(t, "sink", func(ctx context.Context, c daemon.Common) error {
		var cfg sink.Config
		cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
		cfg.Common, cfg.ReplicaID, cfg.LeaseTTL = c, "sink-0", 2*time.Second
		cfg.Prometheus, cfg.Slack.WebhookURL = true, fake.WebhookURL()
		return sink.Run(ctx, cfg)
	})
	srv.runAs(t, "alerter", func(ctx context.Context, c daemon.Common) error {
		var cfg alerter.Config
		cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
		cfg.Common = c
		return alerter.Run(ctx, cfg)
	})
	srv.runAs(t, "rebooter", func(ctx context.Context, c daemon.Common) error {
		var cfg rebooter.Config
		cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
		cfg.Common, cfg.Node, cfg.RebootMethod, cfg.Period = c, node, rebooter.MethodLog, time.Second
		return rebooter.Run(ctx, cfg)
	})
	srv.runAs(t, "collector", func(ctx context.Context, c daemon.Common) error {
		var cfg collector.Config
		cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
		cfg.Common, cfg.Node, cfg.StateDir = c, node, filepath.Join(dir, "state")
		cfg.Interval, cfg.HealthInterval, cfg.Period = time.Second, time.Second, time.Second
		cfg.CRISocket, cfg.KubeletHealthzURL, cfg.LogMonitors = "", "", []string{"none"}
		cfg.RebootSentinel = sentinel
		return collector.Run(ctx, cfg)
	})

	// The collector's node samples, through SAMPLES, on the sink's /metrics.
	testenv.WaitFor(t, time.Minute, "the collector's sample on the sink's Prometheus output", func() bool {
		return strings.Contains(httpOK(sinkURL+"/metrics"), `node="`+node+`"`)
	})
	// The sentinel's request, recorded, locked and "rebooted" by the rebooter.
	testenv.WaitFor(t, time.Minute, "the rebooter's completed reboot", func() bool {
		return rec.phase(node, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED)
	})

	// A kernel oops the collector would read, published with its user, becomes a problem.
	col := srv.dial(t, "collector")
	sp := subject.Space{}
	subj, err := sp.Log("kernel-monitor", node)
	if err != nil {
		t.Fatal(err)
	}
	b := &nwv1.LogBatch{Node: node, Source: "kernel-monitor", Time: timestamppb.Now(), FirstSeq: 1, StreamId: "kmsg:natsauth",
		Lines: []*nwv1.LogLine{{Time: timestamppb.Now(), Seq: 1, Priority: 4,
			Message: "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008"}}}
	data, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := col.js.Publish(ctx, subj, data, jetstream.WithMsgID(msgid.LogBatch(node, b.Source, b.StreamId, b.FirstSeq))); err != nil {
		t.Fatalf("publish a log batch as collector: %v", err)
	}
	testenv.WaitFor(t, time.Minute, "the detector's KernelOops problem", func() bool { return rec.problem(node, "KernelOops") })
	store, err := conditions.Open(ctx, admin.js, topology.BucketConditions)
	if err != nil {
		t.Fatal(err)
	}
	if st, _, err := store.Get(ctx, node, "KernelDeadlock"); err != nil || st.Status != conditions.False {
		t.Errorf("the detector's KernelDeadlock condition in %s = %+v, %v", topology.BucketConditions, st, err)
	}

	// The sink posts the problem to Slack and remembers it in NW_SLACK_SENT.
	testenv.WaitFor(t, time.Minute, "the KernelOops post on Slack", func() bool {
		for _, m := range fake.Messages() {
			if strings.Contains(m.Text, "KernelOops") && strings.Contains(m.Text, node) {
				return true
			}
		}
		return false
	})
	sent, err := admin.js.KeyValue(ctx, topology.BucketSlackSent)
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := sent.Keys(ctx); err != nil || len(keys) == 0 {
		t.Errorf("%s keys = %v, %v; want the sink's records", topology.BucketSlackSent, keys, err)
	}

	// The alerter takes every problem: its durable acknowledged the last one.
	last, err := admin.js.Stream(ctx, topology.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	problemSubj, _ := sp.Problem(node)
	msg, err := last.GetLastMsgForSubject(ctx, problemSubj)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the alerter's ack of the problem", func() bool {
		cons, err := admin.js.Consumer(ctx, topology.StreamEvents, alerter.Durable)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream >= msg.Sequence
	})
}

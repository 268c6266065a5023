package slack_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/sink/slack"
	"github.com/nodewarden/nodewarden/services/sink/slack/slackfake"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	js   jetstream.JetStream
	pub  *publish.Publisher
	kv   jetstream.KeyValue
	sp   subject.Space
	fake *slackfake.Server
	opts slack.Options
	reg  *prometheus.Registry
	out  *slack.Output
	base time.Time
}

// via configures the output to post through the fake's webhook or its chat.postMessage.
func via(kind string) func(*slack.Options, *slackfake.Server) {
	return func(o *slack.Options, f *slackfake.Server) {
		switch kind {
		case "webhook":
			o.WebhookURL = f.WebhookURL()
		case "api":
			o.Token, o.Channel, o.APIURL = "xoxb-test", "C0123", f.APIURL()
			f.Token = "xoxb-test"
		}
	}
}

func setup(t testing.TB, configure ...func(*slack.Options, *slackfake.Server)) *env {
	t.Helper()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	if _, err := topology.Provision(ctx, js, topology.DefaultSettings(), quiet); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, topology.BucketSlackSent)
	if err != nil {
		t.Fatal(err)
	}
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	o := slack.DefaultOptions()
	for _, c := range configure {
		c(&o, fake)
	}
	e := &env{js: js, pub: publish.New(js, prometheus.NewRegistry()), kv: kv, fake: fake, opts: o,
		base: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	e.newOutput(t)
	return e
}

// newOutput builds a fresh Output, as a restarted sink would.
func (e *env) newOutput(t testing.TB) {
	t.Helper()
	e.reg = prometheus.NewRegistry()
	out, err := slack.New(e.opts, e.kv, quiet, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	e.out = out
}

// run starts the output's consumer until the returned stop is called or the test ends.
func (e *env) run(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, cfg := range e.out.Consumers(e.sp) {
		cfg.RetryBase, cfg.RetryMax = 10*time.Millisecond, 200*time.Millisecond
		c, err := consume.New(e.js, e.pub, cfg, quiet, consume.NewMetrics(prometheus.NewRegistry()))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = c.Run(ctx) })
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func (e *env) publish(t testing.TB, subj, id string, m proto.Message) {
	t.Helper()
	if _, err := e.pub.Publish(context.Background(), subj, id, m, nil); err != nil {
		t.Fatal(err)
	}
}

func (e *env) at(i int) *timestamppb.Timestamp {
	return timestamppb.New(e.base.Add(time.Duration(i) * time.Second))
}

// event publishes a temporary problem.
func (e *env) event(t testing.TB, node, id, reason string, sev nwv1.Severity) {
	t.Helper()
	subj, err := e.sp.Problem(node)
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t, subj, id, &nwv1.Problem{Node: node, Time: e.at(0), Id: id, Source: "kernel-monitor",
		Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: reason, Message: "Killed process 4242 (java) <total-vm>", Severity: sev})
}

// condition publishes a condition change.
func (e *env) condition(t testing.TB, node, id, typ, reason string, status nwv1.ConditionStatus) {
	t.Helper()
	subj, _ := e.sp.Problem(node)
	e.publish(t, subj, id, &nwv1.Problem{Node: node, Time: e.at(1), Id: id, Source: "kernel-monitor",
		Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: typ, Status: status, Reason: reason,
		Severity: nwv1.Severity_SEVERITY_CRITICAL})
}

// reboot publishes a reboot status.
func (e *env) reboot(t testing.TB, node string, seq uint64, phase nwv1.RebootPhase, detail string) {
	t.Helper()
	subj, _ := e.sp.RebootStatus(node)
	e.publish(t, subj, fmt.Sprintf("%s:req-1:%d", node, seq), &nwv1.RebootStatus{Node: node, Time: e.at(int(seq) + 10),
		RequestId: "req-1", Phase: phase, Detail: detail, Seq: seq})
}

// waitMessages waits until the fake holds n messages and returns them.
func (e *env) waitMessages(t testing.TB, n int, timeout time.Duration) []slackfake.Message {
	t.Helper()
	testenv.WaitFor(t, timeout, fmt.Sprintf("%d messages", n), func() bool { return len(e.fake.Messages()) >= n })
	return e.fake.Messages()
}

// waitSettled waits until the consumer has acked everything the stream holds (all of it
// matches the consumer's filters).
func (e *env) waitSettled(t testing.TB, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	testenv.WaitFor(t, timeout, "every message acked", func() bool {
		st, err := e.js.Stream(ctx, topology.StreamEvents)
		if err != nil {
			return false
		}
		si, err := st.Info(ctx)
		if err != nil {
			return false
		}
		c, err := e.js.Consumer(ctx, topology.StreamEvents, slack.Durable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream >= si.State.LastSeq && info.NumAckPending == 0 && info.NumPending == 0
	})
}

func (e *env) metric(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

package consume_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	js   jetstream.JetStream
	pub  *publish.Publisher
	reg  *prometheus.Registry
	sp   subject.Space
	subj string
}

func setup(t *testing.T) *fixture {
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	if _, err := topology.Provision(context.Background(), js, topology.DefaultSettings(), quiet); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	f := &fixture{js: js, pub: publish.New(js, reg), reg: reg}
	f.subj, _ = f.sp.Problem("ip-10-0-0-1.ec2.internal")
	return f
}

// start runs a consumer on EVENTS until the test ends.
func (f *fixture) start(t *testing.T, h consume.Handler) {
	c, err := consume.New(f.js, f.pub, consume.Config{
		Stream: topology.StreamEvents, Durable: "test", DeadSubject: f.sp.Dead(topology.StreamEvents),
		Decode: schema.Decoder(f.sp), Handle: h, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}, quiet, consume.NewMetrics(f.reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
}

func (f *fixture) publishProblem(t *testing.T, id string) {
	m := &nwv1.Problem{Node: "ip-10-0-0-1.ec2.internal", Id: id, Reason: "OOMKilling"}
	if _, err := f.pub.Publish(context.Background(), f.subj, id, m, nil); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) metrics(t *testing.T) string {
	srv := httptest.NewServer(promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// deadLetters reads the DEAD stream back.
func (f *fixture) deadLetters(t *testing.T) []*jetstream.RawStreamMsg {
	ctx := context.Background()
	st, err := f.js.Stream(ctx, topology.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) handle(_ context.Context, m *consume.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, m.Payload.(*nwv1.Problem).GetId())
	return nil
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func TestGarbageIsDeadLetteredAndNextMessageProcessed(t *testing.T) {
	f := setup(t)
	var rec recorder
	f.start(t, rec.handle)

	garbage := []byte("\xff\xfe definitely not protobuf")
	if _, err := f.pub.PublishRaw(context.Background(), f.subj, "garbage-1", garbage, nil); err != nil {
		t.Fatal(err)
	}
	f.publishProblem(t, "good-1")

	testenv.WaitFor(t, 10*time.Second, "the good message", func() bool { return len(rec.seen()) == 1 })
	if got := rec.seen(); got[0] != "good-1" {
		t.Fatalf("handled %v", got)
	}
	testenv.WaitFor(t, 10*time.Second, "a dead letter", func() bool { return len(f.deadLetters(t)) == 1 })
	dl := f.deadLetters(t)[0]
	if dl.Subject != f.sp.Dead(topology.StreamEvents) || string(dl.Data) != string(garbage) {
		t.Fatalf("dead letter %s %q", dl.Subject, dl.Data)
	}
	if got := dl.Header.Get(consume.HeaderOriginalSubject); got != f.subj {
		t.Errorf("original subject header = %q, want %q", got, f.subj)
	}
	if got := dl.Header.Get(consume.HeaderReason); !strings.HasPrefix(got, "decode: ") {
		t.Errorf("reason header = %q", got)
	}
	if got := dl.Header.Get(consume.HeaderOriginalMsgID); got != "garbage-1" {
		t.Errorf("original msg id header = %q", got)
	}
	metrics := f.metrics(t)
	for _, want := range []string{
		`nodewarden_dead_letters_total{consumer="test",reason="decode",stream="EVENTS"} 1`,
		`nodewarden_consumed_messages_total{consumer="test",result="ok"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The garbage was terminated, not left pending: the consumer has nothing outstanding.
	testenv.WaitFor(t, 10*time.Second, "the consumer to settle", func() bool {
		c, err := f.js.Consumer(context.Background(), topology.StreamEvents, "test")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

func TestRetryThenSuccess(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	attempts := 0
	done := make(chan struct{})
	f.start(t, func(_ context.Context, m *consume.Message) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts < 3 {
			return errors.New("output down")
		}
		if m.Delivered != 3 {
			t.Errorf("third attempt delivered %d times", m.Delivered)
		}
		close(done)
		return nil
	})
	f.publishProblem(t, "p-1")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("message not retried to success")
	}
	testenv.WaitFor(t, 5*time.Second, "retry metric", func() bool {
		return strings.Contains(f.metrics(t), `nodewarden_consumed_messages_total{consumer="test",result="retry"} 2`)
	})
	if n := len(f.deadLetters(t)); n != 0 {
		t.Fatalf("%d dead letters for a retryable failure", n)
	}
}

func TestPermanentAndPanicAreDeadLettered(t *testing.T) {
	f := setup(t)
	var rec recorder
	f.start(t, func(ctx context.Context, m *consume.Message) error {
		switch m.Payload.(*nwv1.Problem).GetId() {
		case "bad":
			return consume.Permanent(errors.New("no such condition"))
		case "boom":
			var p *nwv1.Problem
			_ = p.Node // nil dereference: a handler bug must not kill the service
		}
		return rec.handle(ctx, m)
	})
	f.publishProblem(t, "bad")
	f.publishProblem(t, "boom")
	f.publishProblem(t, "good")
	testenv.WaitFor(t, 10*time.Second, "the good message", func() bool { return len(rec.seen()) == 1 })
	testenv.WaitFor(t, 10*time.Second, "two dead letters", func() bool { return len(f.deadLetters(t)) == 2 })
	reasons := map[string]bool{}
	for _, dl := range f.deadLetters(t) {
		var p nwv1.Problem
		if err := proto.Unmarshal(dl.Data, &p); err != nil {
			t.Fatal(err)
		}
		reasons[p.Id+":"+strings.SplitN(dl.Header.Get(consume.HeaderReason), ":", 2)[0]] = true
	}
	if !reasons["bad:rejected"] || !reasons["boom:panic"] {
		t.Fatalf("dead letters: %v", reasons)
	}
}

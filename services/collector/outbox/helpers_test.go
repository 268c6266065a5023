package outbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/collector/outbox"
)

// Every wait in these tests is bounded by this, so a bug fails the test instead of hanging it.
const deadline = 10 * time.Second

var errUnavailable = errors.New("nats: unavailable")

// fakePub records every attempt. It fails the next failN attempts, or every attempt while
// failing is set; while gate is open (non-nil, not closed) each attempt waits for it, honouring
// ctx unless ignoreCtx is set (a publisher stuck in a syscall).
type fakePub struct {
	mu        sync.Mutex
	attempts  []string // msg ids, every attempt in order
	stored    []string // msg ids of successful attempts
	failN     int
	failing   bool
	gate      chan struct{}
	ignoreCtx bool
	entered   chan string // if set, told of each attempt as it starts
	onPublish func()      // if set, called during each attempt (ignoring ctx)

	undeadlined int // attempts whose context had no deadline
}

func (f *fakePub) PublishRaw(ctx context.Context, subj, msgID string, data []byte, _ nats.Header) (*jetstream.PubAck, error) {
	f.mu.Lock()
	if _, ok := ctx.Deadline(); !ok {
		f.undeadlined++ // the outbox must bound every attempt; newOutbox's cleanup checks
	}
	f.attempts = append(f.attempts, msgID)
	gate, ignoreCtx, entered, onPublish := f.gate, f.ignoreCtx, f.entered, f.onPublish
	f.mu.Unlock()
	if onPublish != nil {
		onPublish()
	}
	if entered != nil {
		select {
		case entered <- msgID:
		default:
		}
	}
	if gate != nil {
		if ignoreCtx {
			<-gate
		} else {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing || f.failN > 0 {
		if f.failN > 0 {
			f.failN--
		}
		return nil, errUnavailable
	}
	f.stored = append(f.stored, msgID)
	return &jetstream.PubAck{Stream: "TEST", Sequence: uint64(len(f.stored))}, nil
}

func (f *fakePub) snapshot() (attempts, stored []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.attempts...), append([]string(nil), f.stored...)
}

func (f *fakePub) setFailing(v bool) {
	f.mu.Lock()
	f.failing = v
	f.mu.Unlock()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newOutbox returns an outbox on pub with its own registry, and checks at cleanup that every
// publish attempt had a deadline.
func newOutbox(t *testing.T, pub *fakePub, opts outbox.Options) (*outbox.Outbox, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	t.Cleanup(func() {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		if pub.undeadlined > 0 {
			t.Errorf("%d publish attempts without a deadline", pub.undeadlined)
		}
	})
	return outbox.New(pub, opts, quiet(), reg), reg
}

func fastOpts(size int) outbox.Options {
	return outbox.Options{Size: size, Timeout: time.Second, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond}
}

// start runs o until the test ends and returns a stop function that cancels it and waits, with
// a deadline, for Run to return.
func start(t *testing.T, o *outbox.Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(deadline):
				t.Errorf("Run did not return within %s of its context ending", deadline)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor waits, up to deadline, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, deadline, what, cond)
}

// value reads one sample of a metric family from reg (0 when absent).
func value(t *testing.T, reg *prometheus.Registry, name, class string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := class == ""
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == "class" && l.GetValue() == class)
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

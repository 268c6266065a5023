package consume_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// batchRecorder records the batches it is handed and answers each message with result(id).
type batchRecorder struct {
	mu      sync.Mutex
	sizes   []int
	handled map[string]int // id → times handed over
	acked   map[string]bool
	result  func(id string, delivered uint64) error
}

func newBatchRecorder(result func(string, uint64) error) *batchRecorder {
	if result == nil {
		result = func(string, uint64) error { return nil }
	}
	return &batchRecorder{handled: map[string]int{}, acked: map[string]bool{}, result: result}
}

func (r *batchRecorder) handle(_ context.Context, ms []*consume.Message) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sizes = append(r.sizes, len(ms))
	errs := make([]error, len(ms))
	for i, m := range ms {
		id := m.Payload.(*nwv1.Problem).GetId()
		r.handled[id]++
		errs[i] = r.result(id, m.Delivered)
		if errs[i] == nil {
			r.acked[id] = true
		}
	}
	return errs
}

func (r *batchRecorder) batchSizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sizes)
}

func (r *batchRecorder) ackedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

// startBatch runs a batch consumer on EVENTS until the returned stop is called (or the test ends).
func (f *fixture) startBatch(t *testing.T, batch int, flush time.Duration, h consume.BatchHandler) (stop func()) {
	c, err := consume.New(f.js, f.pub, consume.Config{
		Stream: topology.StreamEvents, Durable: "test", DeadSubject: f.sp.Dead(topology.StreamEvents),
		Decode: schema.Decoder(f.sp), HandleBatch: h, Batch: batch, FlushInterval: flush,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}, quiet, consume.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// settled waits until the consumer has nothing pending or unacked.
func (f *fixture) settled(t *testing.T) {
	t.Helper()
	testenv.WaitFor(t, 15*time.Second, "the consumer to settle", func() bool {
		c, err := f.js.Consumer(context.Background(), topology.StreamEvents, "test")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

func TestBatchNeedsExactlyOneHandler(t *testing.T) {
	f := setup(t)
	h := func(context.Context, *consume.Message) error { return nil }
	bh := func(context.Context, []*consume.Message) []error { return nil }
	base := consume.Config{Stream: topology.StreamEvents, Durable: "x", DeadSubject: "nw.dead.x", Decode: schema.Decoder(f.sp)}
	tests := []struct {
		name    string
		mod     func(*consume.Config)
		wantErr bool
	}{
		{"neither", func(*consume.Config) {}, true},
		{"both", func(c *consume.Config) { c.Handle, c.HandleBatch = h, bh }, true},
		{"handle", func(c *consume.Config) { c.Handle = h }, false},
		{"batch", func(c *consume.Config) { c.HandleBatch = bh; c.Batch = 50 }, false},
		{"batch above max ack pending", func(c *consume.Config) { c.HandleBatch = bh; c.Batch, c.MaxAckPending = 50, 10 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			_, err := consume.New(f.js, f.pub, cfg, quiet, consume.NewMetrics(prometheus.NewRegistry()))
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestBatchBySizeAndInterval(t *testing.T) {
	tests := []struct {
		name      string
		batch     int
		flush     time.Duration
		publish   int
		wantSizes []int
	}{
		{"full batches by size", 5, time.Hour, 10, []int{5, 5}},
		{"a short batch by interval", 100, 200 * time.Millisecond, 3, []int{3}},
		{"size then interval", 4, 300 * time.Millisecond, 6, []int{4, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			// Published before the consumer starts, so every batch can fill at once.
			for i := range tt.publish {
				f.publishProblem(t, fmt.Sprintf("p-%d", i))
			}
			rec := newBatchRecorder(nil)
			start := time.Now()
			f.startBatch(t, tt.batch, tt.flush, rec.handle)
			testenv.WaitFor(t, 10*time.Second, "every message acked", func() bool { return rec.ackedCount() == tt.publish })
			if got := rec.batchSizes(); !slices.Equal(got, tt.wantSizes) {
				t.Fatalf("batch sizes %v, want %v", got, tt.wantSizes)
			}
			if tt.flush < time.Hour && time.Since(start) < tt.flush {
				t.Errorf("a short batch was handed over after %s, before the flush interval %s", time.Since(start), tt.flush)
			}
			f.settled(t)
		})
	}
}

func TestBatchPerMessageResults(t *testing.T) {
	f := setup(t)
	rec := newBatchRecorder(func(id string, delivered uint64) error {
		switch {
		case id == "bad":
			return consume.Permanent(errors.New("rejected by the output"))
		case id == "flaky" && delivered < 3:
			return errors.New("output busy")
		}
		return nil
	})
	for _, id := range []string{"a", "bad", "flaky", "b"} {
		f.publishProblem(t, id)
	}
	// Garbage never reaches the batch handler: it is dead-lettered on arrival.
	if _, err := f.pub.PublishRaw(context.Background(), f.subj, "garbage", []byte("\xff\xfe"), nil); err != nil {
		t.Fatal(err)
	}
	f.startBatch(t, 10, 100*time.Millisecond, rec.handle)
	// A nak'ed message waiting out its delay counts neither as pending nor as unacked, so
	// wait for the outcome first, then for the consumer to settle.
	testenv.WaitFor(t, 10*time.Second, "a, b and flaky acked", func() bool { return rec.ackedCount() == 3 })
	testenv.WaitFor(t, 10*time.Second, "two dead letters", func() bool { return len(f.deadLetters(t)) == 2 })
	f.settled(t)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := map[string]int{"a": 1, "b": 1, "bad": 1, "flaky": 3}
	for id, n := range want {
		if rec.handled[id] != n {
			t.Errorf("%s handed over %d times, want %d (all: %v)", id, rec.handled[id], n, rec.handled)
		}
	}
	if len(rec.handled) != len(want) {
		t.Errorf("handled %v, want exactly %v", rec.handled, want)
	}
	dead := map[string]bool{}
	for _, dl := range f.deadLetters(t) {
		dead[dl.Header.Get(consume.HeaderOriginalMsgID)] = true
	}
	if !dead["bad"] || !dead["garbage"] || len(dead) != 2 {
		t.Errorf("dead letters %v, want bad and garbage", dead)
	}
}

func TestBatchPanicRetriesWholeBatch(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	calls := 0
	acked := map[string]bool{}
	f.startBatch(t, 3, 100*time.Millisecond, func(_ context.Context, ms []*consume.Message) []error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			var p *nwv1.Problem
			_ = p.Node // a handler bug: nothing may be lost or dead-lettered for it
		}
		for _, m := range ms {
			acked[m.Payload.(*nwv1.Problem).GetId()] = true
		}
		return make([]error, len(ms))
	})
	for _, id := range []string{"x", "y", "z"} {
		f.publishProblem(t, id)
	}
	testenv.WaitFor(t, 10*time.Second, "every message handled after the panic", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == 3
	})
	f.settled(t)
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != 3 || calls < 2 {
		t.Fatalf("after a panic: %d calls, acked %v", calls, acked)
	}
	if n := len(f.deadLetters(t)); n != 0 {
		t.Fatalf("%d dead letters after a panic, want 0", n)
	}
}

func TestBatchNothingLostAcrossRestart(t *testing.T) {
	f := setup(t)
	const n = 40
	for i := range n {
		f.publishProblem(t, fmt.Sprintf("p-%d", i))
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	handle := func(_ context.Context, ms []*consume.Message) []error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			seen[m.Payload.(*nwv1.Problem).GetId()] = true
		}
		return make([]error, len(ms))
	}
	// The first consumer stops while batches are in flight; the second, on the same durable,
	// must get everything the first did not ack.
	first := newBatchRecorder(nil)
	stop := f.startBatch(t, 7, time.Hour, func(ctx context.Context, ms []*consume.Message) []error {
		errs := first.handle(ctx, ms)
		handle(ctx, ms)
		return errs
	})
	testenv.WaitFor(t, 10*time.Second, "a first batch", func() bool { return first.ackedCount() >= 7 })
	stop()
	f.startBatch(t, 7, 100*time.Millisecond, handle)
	testenv.WaitFor(t, 15*time.Second, "every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	f.settled(t)
}

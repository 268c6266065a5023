package outbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nodewarden/nodewarden/services/collector/outbox"
)

type offer struct {
	class outbox.Class
	id    string
}

func (o offer) subject() string { return "nw.test." + o.class.String() }

// Eviction when full, and the order in which what is left is sent.
func TestEvictionAndSendOrder(t *testing.T) {
	S := func(id string) offer { return offer{outbox.Sample, id} }
	L := func(id string) offer { return offer{outbox.Log, id} }
	R := func(id string) offer { return offer{outbox.Reboot, id} }
	tests := []struct {
		name        string
		size        int
		offers      []offer
		wantLen     int
		wantSent    []string       // in send order
		wantDropped map[string]int // by class
	}{
		{"under size: reboot, then logs, then samples, each oldest first", 10,
			[]offer{S("s1"), L("l1"), R("r1"), S("s2"), L("l2"), R("r2")}, 6,
			[]string{"r1", "r2", "l1", "l2", "s1", "s2"}, nil},
		{"full of samples: the oldest sample goes first", 3,
			[]offer{S("s1"), S("s2"), S("s3"), S("s4"), S("s5")}, 3,
			[]string{"s3", "s4", "s5"}, map[string]int{"sample": 2}},
		{"a log pushes out the oldest sample", 2,
			[]offer{S("s1"), L("l1"), L("l2")}, 2,
			[]string{"l1", "l2"}, map[string]int{"sample": 1}},
		{"a reboot pushes out nothing", 2,
			[]offer{S("s1"), S("s2"), R("r1")}, 3,
			[]string{"r1", "s1", "s2"}, nil},
		{"no samples queued: an incoming sample is dropped itself", 2,
			[]offer{L("l1"), R("r1"), S("s1")}, 2,
			[]string{"r1", "l1"}, map[string]int{"sample": 1}},
		{"no samples queued: the oldest log goes for an incoming log", 2,
			[]offer{L("l1"), L("l2"), L("l3"), R("r1"), L("l4")}, 3,
			[]string{"r1", "l3", "l4"}, map[string]int{"log": 2}},
		{"reboots are never dropped and may exceed Size", 2,
			[]offer{L("l1"), L("l2"), R("r1"), R("r2"), R("r3"), S("s1")}, 5,
			[]string{"r1", "r2", "r3", "l1", "l2"}, map[string]int{"sample": 1}},
		{"only reboots queued: an incoming log is dropped, not kept over Size", 2,
			[]offer{R("r1"), R("r2"), L("l1"), S("s1")}, 2,
			[]string{"r1", "r2"}, map[string]int{"log": 1, "sample": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePub{}
			o, reg := newOutbox(t, pub, fastOpts(tt.size))
			for _, of := range tt.offers {
				o.Offer(of.subject(), of.id, []byte(of.id), of.class)
			}
			if got := o.Len(); got != tt.wantLen {
				t.Fatalf("Len = %d, want %d", got, tt.wantLen)
			}
			for _, c := range []string{"reboot", "log", "sample"} {
				if got := value(t, reg, "nodewarden_collector_outbox_dropped_total", c); got != float64(tt.wantDropped[c]) {
					t.Errorf("dropped{class=%q} = %v, want %d", c, got, tt.wantDropped[c])
				}
			}
			start(t, o)
			waitFor(t, "the outbox to drain", func() bool { _, s := pub.snapshot(); return len(s) == len(tt.wantSent) })
			if _, sent := pub.snapshot(); strings.Join(sent, " ") != strings.Join(tt.wantSent, " ") {
				t.Fatalf("sent %q, want %q", sent, tt.wantSent)
			}
			waitFor(t, "Len 0", func() bool { return o.Len() == 0 })
		})
	}
}

// Send says what became of its message.
func TestSend(t *testing.T) {
	t.Run("stored", func(t *testing.T) {
		pub := &fakePub{failN: 2}
		o, _ := newOutbox(t, pub, fastOpts(10))
		start(t, o)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := o.Send(ctx, "nw.test", "a", nil, outbox.Log); err != nil {
			t.Fatalf("Send = %v, want nil", err)
		}
		if _, stored := pub.snapshot(); len(stored) != 1 || stored[0] != "a" {
			t.Fatalf("stored %q", stored)
		}
	})
	t.Run("evicted later", func(t *testing.T) {
		o, _ := newOutbox(t, &fakePub{}, fastOpts(1))
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- o.Send(ctx, "nw.test", "old", nil, outbox.Sample) }()
		waitFor(t, "the sample to be queued", func() bool { return o.Len() == 1 })
		o.Offer("nw.test", "new", nil, outbox.Sample) // no Run: nothing is sent
		if err := <-errc; !errors.Is(err, outbox.ErrDropped) {
			t.Fatalf("Send = %v, want ErrDropped", err)
		}
	})
	t.Run("dropped on arrival", func(t *testing.T) {
		o, _ := newOutbox(t, &fakePub{}, fastOpts(1))
		o.Offer("nw.test", "l", nil, outbox.Log)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := o.Send(ctx, "nw.test", "s", nil, outbox.Sample); !errors.Is(err, outbox.ErrDropped) {
			t.Fatalf("Send = %v, want ErrDropped", err)
		}
	})
	t.Run("closed while queued and after Run returned", func(t *testing.T) {
		pub := &fakePub{failing: true}
		o, _ := newOutbox(t, pub, fastOpts(10))
		stop := start(t, o)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- o.Send(ctx, "nw.test", "q", nil, outbox.Reboot) }()
		waitFor(t, "a failed attempt", func() bool { a, _ := pub.snapshot(); return len(a) > 0 })
		stop()
		if err := <-errc; !errors.Is(err, outbox.ErrClosed) {
			t.Fatalf("Send queued at close = %v, want ErrClosed", err)
		}
		if err := o.Send(ctx, "nw.test", "late", nil, outbox.Reboot); !errors.Is(err, outbox.ErrClosed) {
			t.Fatalf("Send after Run = %v, want ErrClosed", err)
		}
		o.Offer("nw.test", "late", nil, outbox.Sample) // must not panic or block
		if o.Len() != 0 {
			t.Fatalf("Len after close = %d", o.Len())
		}
	})
	t.Run("context ends first", func(t *testing.T) {
		pub := &fakePub{failing: true}
		o, _ := newOutbox(t, pub, fastOpts(10))
		start(t, o)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := o.Send(ctx, "nw.test", "x", nil, outbox.Log); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send = %v, want context.DeadlineExceeded", err)
		}
		// The message stays queued and is sent once NATS is back.
		pub.setFailing(false)
		waitFor(t, "the message to be sent after all", func() bool { _, s := pub.snapshot(); return len(s) == 1 })
	})
}

// Offer returns at once even while the publisher is stuck, ignoring its context.
func TestOfferNeverBlocks(t *testing.T) {
	gate := make(chan struct{})
	pub := &fakePub{gate: gate, ignoreCtx: true, entered: make(chan string, 1)}
	o, reg := newOutbox(t, pub, fastOpts(100))
	defer close(gate) // release the publisher before start's cleanup waits for Run
	start(t, o)
	o.Offer("nw.test", "first", nil, outbox.Sample)
	select {
	case <-pub.entered:
	case <-time.After(deadline):
		t.Fatal("the publisher was never called")
	}
	done := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		for i := range 1000 {
			t0 := time.Now()
			o.Offer("nw.test", "m"+string(rune('a'+i%26)), []byte("x"), outbox.Class(i%3))
			worst = max(worst, time.Since(t0))
		}
		done <- worst
	}()
	select {
	case worst := <-done:
		if worst > time.Second { // generous under -race on a loaded machine; a block is forever
			t.Errorf("slowest Offer took %s", worst)
		}
	case <-time.After(deadline):
		t.Fatal("Offer blocked while the publisher was stuck")
	}
	if got := o.Len(); got < 100 {
		t.Fatalf("Len = %d, want at least Size (100)", got)
	}
	if got := value(t, reg, "nodewarden_collector_outbox_dropped_total", "sample"); got == 0 {
		t.Fatal("no sample counted as dropped")
	}
	// Send gives up on its own context while the publisher is stuck.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := o.Send(ctx, "nw.test", "r", nil, outbox.Reboot); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v", err)
	}
}

// Run returns promptly when its context ends, whether it is backing off after failures or
// waiting on a publish.
func TestRunStopsOnCancel(t *testing.T) {
	tests := []struct {
		name string
		pub  *fakePub
		opts outbox.Options
	}{
		{"backing off", &fakePub{failing: true},
			outbox.Options{Size: 10, Timeout: time.Second, RetryBase: time.Hour, RetryMax: time.Hour}},
		{"publishing", &fakePub{gate: make(chan struct{})},
			outbox.Options{Size: 10, Timeout: time.Hour, RetryBase: time.Millisecond, RetryMax: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := newOutbox(t, tt.pub, tt.opts)
			stop := start(t, o)
			o.Offer("nw.test", "a", nil, outbox.Log)
			waitFor(t, "an attempt", func() bool { a, _ := tt.pub.snapshot(); return len(a) > 0 })
			t0 := time.Now()
			stop()
			if d := time.Since(t0); d > 2*time.Second {
				t.Fatalf("Run took %s to return", d)
			}
		})
	}
}

// Run stops when its context ends even if the publisher ignores the context and succeeds
// while new messages keep arriving, so the queue never empties.
func TestRunStopsWhileBusy(t *testing.T) {
	pub := &fakePub{}
	o, _ := newOutbox(t, pub, fastOpts(10))
	pub.onPublish = func() { o.Offer("nw.test", "more", nil, outbox.Sample) }
	stop := start(t, o)
	o.Offer("nw.test", "first", nil, outbox.Sample)
	waitFor(t, "a few sends", func() bool { _, s := pub.snapshot(); return len(s) > 10 })
	stop()
}

// A failed message is retried with the same message id until it is stored, and the metrics
// count every step.
func TestRetrySameMsgIDAndMetrics(t *testing.T) {
	pub := &fakePub{failN: 3}
	o, reg := newOutbox(t, pub, fastOpts(2))
	o.Offer("nw.test", "r-1", nil, outbox.Reboot)
	o.Offer("nw.test", "s-1", nil, outbox.Sample)
	o.Offer("nw.test", "s-2", nil, outbox.Sample) // pushes out s-1
	want := `# HELP nodewarden_collector_outbox_messages Messages waiting in the collector's outbox, by class.
# TYPE nodewarden_collector_outbox_messages gauge
nodewarden_collector_outbox_messages{class="log"} 0
nodewarden_collector_outbox_messages{class="reboot"} 1
nodewarden_collector_outbox_messages{class="sample"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nodewarden_collector_outbox_messages"); err != nil {
		t.Fatal(err)
	}
	start(t, o)
	waitFor(t, "both messages stored", func() bool { _, s := pub.snapshot(); return len(s) == 2 })
	attempts, stored := pub.snapshot()
	if got := strings.Join(attempts, " "); got != "r-1 r-1 r-1 r-1 s-2" {
		t.Fatalf("attempts %q, want the reboot tried 4 times with its id, then s-2", got)
	}
	if got := strings.Join(stored, " "); got != "r-1 s-2" {
		t.Fatalf("stored %q", got)
	}
	want = `# HELP nodewarden_collector_outbox_dropped_total Messages dropped because the outbox was full, by class.
# TYPE nodewarden_collector_outbox_dropped_total counter
nodewarden_collector_outbox_dropped_total{class="log"} 0
nodewarden_collector_outbox_dropped_total{class="reboot"} 0
nodewarden_collector_outbox_dropped_total{class="sample"} 1
# HELP nodewarden_collector_outbox_messages Messages waiting in the collector's outbox, by class.
# TYPE nodewarden_collector_outbox_messages gauge
nodewarden_collector_outbox_messages{class="log"} 0
nodewarden_collector_outbox_messages{class="reboot"} 0
nodewarden_collector_outbox_messages{class="sample"} 0
# HELP nodewarden_collector_outbox_retries_total Failed publish attempts that will be retried.
# TYPE nodewarden_collector_outbox_retries_total counter
nodewarden_collector_outbox_retries_total 3
# HELP nodewarden_collector_outbox_sent_total Messages the outbox published, by class.
# TYPE nodewarden_collector_outbox_sent_total counter
nodewarden_collector_outbox_sent_total{class="log"} 0
nodewarden_collector_outbox_sent_total{class="reboot"} 1
nodewarden_collector_outbox_sent_total{class="sample"} 1
`
	waitFor(t, "the metrics to settle", func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(want)) == nil
	})
}

// What is still queued when Run returns is failed, and the gauge says the outbox is empty.
func TestCloseEmptiesGauge(t *testing.T) {
	o, reg := newOutbox(t, &fakePub{failing: true}, fastOpts(10))
	for _, c := range []outbox.Class{outbox.Reboot, outbox.Log, outbox.Sample} {
		o.Offer("nw.test", c.String(), nil, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o.Run(ctx)
	for _, c := range []string{"reboot", "log", "sample"} {
		if got := value(t, reg, "nodewarden_collector_outbox_messages", c); got != 0 {
			t.Errorf("messages{class=%q} = %v after Run returned, want 0", c, got)
		}
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d", o.Len())
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[outbox.Class]string{outbox.Reboot: "reboot", outbox.Log: "log", outbox.Sample: "sample", 7: "class(7)", -1: "class(-1)"} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

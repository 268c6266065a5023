package lock_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
)

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time   { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time)  { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }
func newClock(t time.Time) *clock { return &clock{now: t} }

// bus starts a provisioned JetStream server and returns a function giving a KV handle on the
// lock bucket over a new connection each call.
func bus(t testing.TB) func() jetstream.KeyValue {
	t.Helper()
	open := busConn(t)
	return func() jetstream.KeyValue {
		t.Helper()
		_, kv := open()
		return kv
	}
}

// busConn is bus, also returning the connection, for tests that kill a node by closing it.
func busConn(t testing.TB) func() (*nats.Conn, jetstream.KeyValue) {
	t.Helper()
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	return func() (*nats.Conn, jetstream.KeyValue) {
		t.Helper()
		nc, js := srv.Connect(t)
		kv, err := js.KeyValue(context.Background(), topology.BucketRebootLock)
		if err != nil {
			t.Fatalf("open %s: %v", topology.BucketRebootLock, err)
		}
		return nc, kv
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newLock(t testing.TB, kv jetstream.KeyValue, o lock.Options) *lock.Lock {
	t.Helper()
	l, err := lock.New(kv, o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	return l
}

// put stores a raw value in a slot, as another node's earlier write would have.
func put(t testing.TB, kv jetstream.KeyValue, slot int, h lock.Holder) {
	t.Helper()
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), lock.Key(slot), b); err != nil {
		t.Fatalf("put %s: %v", lock.Key(slot), err)
	}
}

func TestNewValidates(t *testing.T) {
	kv := bus(t)()
	for _, tc := range []struct {
		name string
		kv   jetstream.KeyValue
		o    lock.Options
		ok   bool
	}{
		{"ok", kv, lock.Options{Node: "n1", Slots: 1}, true},
		{"no kv", nil, lock.Options{Node: "n1", Slots: 1}, false},
		{"no node", kv, lock.Options{Slots: 1}, false},
		{"zero slots", kv, lock.Options{Node: "n1"}, false},
		{"negative ttl", kv, lock.Options{Node: "n1", Slots: 1, TTL: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lock.New(tc.kv, tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("New: err %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestTryAcquire(t *testing.T) {
	open := bus(t)
	for _, tc := range []struct {
		name     string
		slots    int
		ttl      time.Duration
		before   func(t *testing.T, kv jetstream.KeyValue)
		wantGot  bool
		wantSlot int
		wantOld  bool // the holding keeps the Since of the existing value (re-found)
	}{
		{name: "free", slots: 1, wantGot: true},
		{name: "held by another", slots: 1, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 0, lock.Holder{Node: "other", Since: t0, Until: t0.Add(time.Hour)})
		}},
		{name: "expired holder taken over", slots: 1, wantGot: true, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 0, lock.Holder{Node: "other", Since: t0.Add(-time.Hour), Until: t0.Add(-time.Second)})
		}},
		{name: "until exactly now is expired", slots: 1, wantGot: true, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 0, lock.Holder{Node: "other", Since: t0.Add(-time.Hour), Until: t0})
		}},
		{name: "ttl 0 never expires", slots: 1, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 0, lock.Holder{Node: "other", Since: t0.AddDate(-5, 0, 0)})
		}},
		{name: "released slot", slots: 1, wantGot: true, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 0, lock.Holder{Node: "other", Since: t0})
			if err := kv.Delete(context.Background(), lock.Key(0)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "own slot re-found after restart", slots: 3, ttl: time.Minute, wantGot: true, wantSlot: 2, wantOld: true, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 2, lock.Holder{Node: "me", RequestID: "old", Since: t0.Add(-time.Hour), Until: t0.Add(-time.Minute)})
		}},
		{name: "third of three slots", slots: 3, wantGot: true, wantSlot: 1, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 0, lock.Holder{Node: "a", Since: t0})
			put(t, kv, 2, lock.Holder{Node: "b", Since: t0})
		}},
		{name: "all slots held", slots: 2, before: func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, 0, lock.Holder{Node: "a", Since: t0})
			put(t, kv, 1, lock.Holder{Node: "b", Since: t0, Until: t0.Add(time.Second)})
		}},
		{name: "garbage value blocks", slots: 1, before: func(t *testing.T, kv jetstream.KeyValue) {
			if _, err := kv.Put(context.Background(), lock.Key(0), []byte("not json")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := open()
			ctx := ctxT(t)
			for i := range 3 {
				_ = kv.Purge(ctx, lock.Key(i))
			}
			if tc.before != nil {
				tc.before(t, kv)
			}
			l := newLock(t, kv, lock.Options{Node: "me", Slots: tc.slots, TTL: tc.ttl, Now: newClock(t0).Now})
			h, got, err := l.TryAcquire(ctx, "req-1")
			if err != nil {
				t.Fatalf("TryAcquire: %v", err)
			}
			if got != tc.wantGot {
				t.Fatalf("TryAcquire got %v, want %v (holders %+v)", got, tc.wantGot, holders(t, kv))
			}
			if !got {
				return
			}
			if h.Slot != tc.wantSlot || h.Node != "me" || h.RequestID != "req-1" {
				t.Errorf("holding %+v, want slot %d, node me, request req-1", h, tc.wantSlot)
			}
			if wantSince := t0; tc.wantOld {
				if wantSince = t0.Add(-time.Hour); !h.Since.Equal(wantSince) {
					t.Errorf("re-found Since %s, want the original %s", h.Since, wantSince)
				}
			} else if !h.Since.Equal(wantSince) {
				t.Errorf("Since %s, want %s", h.Since, wantSince)
			}
			if wantUntil := t0.Add(tc.ttl); tc.ttl > 0 && !h.Until.Equal(wantUntil) {
				t.Errorf("Until %s, want %s", h.Until, wantUntil)
			} else if tc.ttl == 0 && !h.Until.IsZero() {
				t.Errorf("Until %s, want zero with TTL 0", h.Until)
			}
			hs := holders(t, kv)
			n := 0
			for _, x := range hs {
				if x.Node == "me" {
					n++
					if x.Revision != h.Revision || x.Slot != h.Slot {
						t.Errorf("stored %+v, returned %+v", x, h)
					}
				}
			}
			if n != 1 {
				t.Errorf("node holds %d slots, want 1: %+v", n, hs)
			}
		})
	}
}

func holders(t testing.TB, kv jetstream.KeyValue) []lock.Holder {
	t.Helper()
	hs, err := lock.Holders(context.Background(), kv)
	if err != nil {
		t.Fatalf("Holders: %v", err)
	}
	return hs
}

// TestExpiredTakeoverRace: many nodes find the same expired holder at once; the
// compare-and-set on the revision read lets exactly one in.
func TestExpiredTakeoverRace(t *testing.T) {
	open := bus(t)
	ctx := ctxT(t)
	kv := open()
	put(t, kv, 0, lock.Holder{Node: "dead", Since: t0.Add(-time.Hour), Until: t0.Add(-time.Minute)})
	const n = 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	start := make(chan struct{})
	for i := range n {
		l := newLock(t, open(), lock.Options{Node: nodeName(i), Slots: 1, TTL: time.Hour, Now: newClock(t0).Now})
		wg.Go(func() {
			<-start
			_, got, err := l.TryAcquire(ctx, "r")
			if err != nil {
				t.Errorf("TryAcquire %d: %v", i, err)
			}
			if got {
				mu.Lock()
				wins = append(wins, nodeName(i))
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d nodes took over the expired slot, want 1: %v", len(wins), wins)
	}
	if hs := holders(t, kv); len(hs) != 1 || hs[0].Node != wins[0] {
		t.Fatalf("holders %+v, want only %s", hs, wins[0])
	}
}

func TestRenewAndRelease(t *testing.T) {
	open := bus(t)
	ctx := ctxT(t)
	kv := open()
	clk := newClock(t0)
	me := newLock(t, kv, lock.Options{Node: "me", Slots: 1, TTL: time.Minute, Now: clk.Now})
	h, got, err := me.TryAcquire(ctx, "r1")
	if err != nil || !got {
		t.Fatalf("TryAcquire: %v %v", got, err)
	}
	clk.Set(t0.Add(30 * time.Second))
	h2, err := me.Renew(ctx, h)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if want := t0.Add(90 * time.Second); !h2.Until.Equal(want) || !h2.Since.Equal(t0) || h2.Revision <= h.Revision {
		t.Fatalf("renewed %+v, want until %s, since %s, newer revision than %d", h2, want, t0, h.Revision)
	}
	if _, err := me.Renew(ctx, h); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("Renew with a stale revision: %v, want ErrNotHeld", err)
	}

	// Not renewed past until: another node takes over, and the old holder can neither renew
	// nor release the new holder's slot.
	otherClk := newClock(t0.Add(91 * time.Second))
	other := newLock(t, open(), lock.Options{Node: "other", Slots: 1, TTL: time.Minute, Now: otherClk.Now})
	oh, got, err := other.TryAcquire(ctx, "r2")
	if err != nil || !got {
		t.Fatalf("takeover: %v %v", got, err)
	}
	if _, err := me.Renew(ctx, h2); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("Renew after takeover: %v, want ErrNotHeld", err)
	}
	if err := me.Release(ctx, h2); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("Release after takeover: %v, want ErrNotHeld", err)
	}
	if err := me.Release(ctx, oh); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("Release of another node's holding: %v, want ErrNotHeld", err)
	}
	if hs := holders(t, kv); len(hs) != 1 || hs[0].Node != "other" {
		t.Fatalf("holders %+v, want other", hs)
	}
	if err := other.Release(ctx, oh); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if hs := holders(t, kv); len(hs) != 0 {
		t.Fatalf("holders after release %+v, want none", hs)
	}
	if err := other.Release(ctx, oh); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("second Release: %v, want ErrNotHeld", err)
	}
}

func TestAcquireWaitsForRelease(t *testing.T) {
	open := bus(t)
	ctx := ctxT(t)
	a := newLock(t, open(), lock.Options{Node: "a", Slots: 1})
	b := newLock(t, open(), lock.Options{Node: "b", Slots: 1})
	ha, err := a.Acquire(ctx, "ra")
	if err != nil {
		t.Fatalf("Acquire a: %v", err)
	}
	type result struct {
		h   lock.Holder
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		h, err := b.Acquire(ctx, "rb")
		done <- result{h, err, time.Now()}
	}()
	// b cannot finish while a holds.
	select {
	case r := <-done:
		t.Fatalf("b acquired %+v (%v) while a held the lock", r.h, r.err)
	default:
	}
	released := time.Now()
	if err := a.Release(ctx, ha); err != nil {
		t.Fatalf("Release a: %v", err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.h.Node != "b" {
			t.Fatalf("b: %+v %v", r.h, r.err)
		}
		t.Logf("hand-over took %s", r.at.Sub(released))
		// And back: a Lock acquires again after releasing.
		if err := b.Release(ctx, r.h); err != nil {
			t.Fatalf("Release b: %v", err)
		}
		if _, err := a.Acquire(ctx, "ra2"); err != nil {
			t.Fatalf("a's second Acquire: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not acquire within 10s of a's release")
	}
}

func TestAcquireWakesAtExpiry(t *testing.T) {
	open := bus(t)
	ctx := ctxT(t)
	dead := newLock(t, open(), lock.Options{Node: "dead", Slots: 1, TTL: 300 * time.Millisecond})
	hd, err := dead.Acquire(ctx, "r")
	if err != nil {
		t.Fatalf("Acquire dead: %v", err)
	}
	b := newLock(t, open(), lock.Options{Node: "b", Slots: 1, TTL: time.Minute})
	hb, err := b.Acquire(ctx, "rb")
	if err != nil {
		t.Fatalf("Acquire b: %v", err)
	}
	if now := time.Now(); now.Before(hd.Until) {
		t.Fatalf("b acquired at %s, before the dead holder's until %s", now, hd.Until)
	}
	if hb.Slot != 0 || hb.Node != "b" {
		t.Fatalf("b holds %+v", hb)
	}
}

func TestCancelledAcquire(t *testing.T) {
	open := bus(t)
	a := newLock(t, open(), lock.Options{Node: "a", Slots: 1})
	if _, err := a.Acquire(ctxT(t), "r"); err != nil {
		t.Fatal(err)
	}
	b := newLock(t, open(), lock.Options{Node: "b", Slots: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(ctx, "r"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire with a held lock and a deadline: %v, want DeadlineExceeded", err)
	}
}

func nodeName(i int) string { return "node-" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

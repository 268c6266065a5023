package lock

import (
	"context"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// TestStaleViewLosesCAS: a taker whose view is older than the slot (another node took the
// expired slot first) loses the compare-and-set without error and writes nothing.
func TestStaleViewLosesCAS(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0 }
	dead, _ := encode(Holder{Node: "dead", Since: t0.Add(-time.Hour), Until: t0.Add(-time.Minute)})
	rev, err := kv.Put(ctx, Key(0), dead)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stale view
	}{
		{"expired holder", view{0: {rev: rev, held: true, holder: decode(0, rev, dead)}}},
		{"delete marker", view{0: {rev: rev}}},
		{"never written", view{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := New(kv, Options{Node: "a", Slots: 1, TTL: time.Minute, Now: now})
			b, _ := New(kv, Options{Node: "b", Slots: 1, TTL: time.Minute, Now: now})
			ha, ok, err := a.TryAcquire(ctx, "ra")
			if err != nil || !ok {
				t.Fatalf("a: %v %v", ok, err)
			}
			h, ok, err := b.attempt(ctx, "rb", tc.stale)
			if err != nil || ok {
				t.Fatalf("b with a stale view: %+v %v %v, want a lost CAS", h, ok, err)
			}
			e, err := kv.Get(ctx, Key(0))
			if err != nil || e.Revision() != ha.Revision {
				t.Fatalf("slot after lost CAS: %v %v, want a's revision %d", e, err, ha.Revision)
			}
			// Leave the slot expired for the next case.
			if rev, err = kv.Update(ctx, Key(0), dead, ha.Revision); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDecodeGarbage(t *testing.T) {
	for _, b := range []string{"", "x", "{}", `{"node":""}`, `{"node":1}`} {
		h := decode(3, 7, []byte(b))
		if !h.Invalid || h.Slot != 3 || h.Revision != 7 || h.Expired(time.Now().AddDate(100, 0, 0)) {
			t.Errorf("decode(%q) = %+v, want invalid, never expiring", b, h)
		}
	}
}

package lock_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/services/rebooter/lock"
)

func TestHoldersForceRelease(t *testing.T) {
	kv := bus(t)()
	ctx := ctxT(t)
	put(t, kv, 0, lock.Holder{Node: "a", RequestID: "ra", Since: t0})
	put(t, kv, 1, lock.Holder{Node: "b", Since: t0, Until: t0.Add(time.Hour)})
	put(t, kv, 4, lock.Holder{Node: "a", Since: t0}) // left from a larger --concurrency
	if _, err := kv.Put(ctx, "other-key", []byte("x")); err != nil {
		t.Fatal(err)
	}
	hs := holders(t, kv)
	var got []string
	for _, h := range hs {
		got = append(got, lock.Key(h.Slot)+"="+h.Node)
	}
	if want := []string{"slot.0=a", "slot.1=b", "slot.4=a"}; !slices.Equal(got, want) {
		t.Fatalf("Holders %v, want %v", got, want)
	}
	if hs[0].RequestID != "ra" || !hs[1].Until.Equal(t0.Add(time.Hour)) {
		t.Errorf("Holders lost fields: %+v", hs)
	}

	for _, tc := range []struct {
		node      string
		wantFreed bool
		wantLeft  []string
	}{
		{"nobody", false, []string{"a", "b", "a"}},
		{"a", true, []string{"b"}},
		{"a", false, []string{"b"}},
		{"b", true, nil},
	} {
		freed, err := lock.ForceRelease(ctx, kv, tc.node)
		if err != nil || freed != tc.wantFreed {
			t.Fatalf("ForceRelease(%s) = %v, %v; want %v", tc.node, freed, err, tc.wantFreed)
		}
		var left []string
		for _, h := range holders(t, kv) {
			left = append(left, h.Node)
		}
		if !slices.Equal(left, tc.wantLeft) {
			t.Fatalf("after ForceRelease(%s) holders %v, want %v", tc.node, left, tc.wantLeft)
		}
	}

	// A freed slot is free for the next node.
	l := newLock(t, kv, lock.Options{Node: "c", Slots: 1})
	if _, got, err := l.TryAcquire(ctx, "r"); err != nil || !got {
		t.Fatalf("TryAcquire after force release: %v %v", got, err)
	}
}

func TestReleaseGone(t *testing.T) {
	kv := bus(t)()
	ctx := ctxT(t)
	put(t, kv, 0, lock.Holder{Node: "alive", Since: t0})
	put(t, kv, 1, lock.Holder{Node: "deleted", Since: t0}) // TTL 0: only this frees it
	put(t, kv, 2, lock.Holder{Node: "unknown", Since: t0})
	lookupErr := errors.New("apiserver unavailable")
	exists := func(_ context.Context, node string) (bool, error) {
		switch node {
		case "alive":
			return true, nil
		case "unknown":
			return false, lookupErr
		}
		return false, nil
	}
	gone, err := lock.ReleaseGone(ctx, kv, exists)
	if !errors.Is(err, lookupErr) {
		t.Errorf("ReleaseGone error %v, want the lookup error", err)
	}
	if !slices.Equal(gone, []string{"deleted"}) {
		t.Fatalf("ReleaseGone freed %v, want [deleted]", gone)
	}
	var left []string
	for _, h := range holders(t, kv) {
		left = append(left, h.Node)
	}
	if want := []string{"alive", "unknown"}; !slices.Equal(left, want) {
		t.Fatalf("holders %v, want %v (a failed lookup must keep the slot)", left, want)
	}
}

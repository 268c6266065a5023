// Package locktest checks the reboot lock's safety from outside the contenders, for the lock's
// and the rebooter's tests: it keeps every revision of the slot keys during a test and replays
// them. The provisioned bucket keeps one revision per key, and a live watcher misses revisions
// replaced before it is sent them, so KeepHistory lifts the stream's per-subject limit for the
// test (the lock never reads history) and ReadHistory reads all of it afterwards.
package locktest

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
)

// KeepHistory makes the lock bucket keep every revision of its keys.
func KeepHistory(t testing.TB, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	s, err := js.Stream(ctx, "KV_"+topology.BucketRebootLock)
	if err != nil {
		t.Fatalf("lock bucket stream: %v", err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgsPerSubject = 100000
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("keep lock history: %v", err)
	}
}

// History is every revision of the slot keys.
type History struct {
	Entries []jetstream.KeyValueEntry
}

// ReadHistory reads the slot keys' whole history and checks that none is missing.
func ReadHistory(t testing.TB, ctx context.Context, kv jetstream.KeyValue) *History {
	t.Helper()
	w, err := kv.WatchFiltered(ctx, []string{lock.KeyPrefix + "*"}, jetstream.IncludeHistory())
	if err != nil {
		t.Fatalf("watch history: %v", err)
	}
	defer func() { _ = w.Stop() }()
	h := &History{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		h.Entries = append(h.Entries, e)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq; uint64(len(h.Entries)) != last {
		t.Fatalf("history has %d entries, stream's last revision is %d", len(h.Entries), last)
	}
	return h
}

// Check replays the history: revisions contiguous (nothing missed), no key written over another
// node's holding before its until, no node in two slots, no more holders than slots; it returns
// how many times each node began a holding and the takeovers seen ("old->new").
func (r *History) Check(t testing.TB, slots int) (began map[string]int, takeovers []string) {
	t.Helper()
	began = map[string]int{}
	held := map[string]lock.Holder{}
	for i, e := range r.Entries {
		if e.Revision() != uint64(i+1) {
			t.Fatalf("history gap: entry %d has revision %d", i, e.Revision())
		}
		if e.Operation() != jetstream.KeyValuePut {
			delete(held, e.Key())
			continue
		}
		var h lock.Holder
		if err := json.Unmarshal(e.Value(), &h); err != nil {
			t.Fatalf("revision %d: bad value %q: %v", e.Revision(), e.Value(), err)
		}
		prev, was := held[e.Key()]
		switch {
		case !was:
			began[h.Node]++
		case prev.Node != h.Node:
			if prev.Until.IsZero() || e.Created().Before(prev.Until) {
				t.Errorf("revision %d: %s took %s from %s before its until %s (at %s)",
					e.Revision(), h.Node, e.Key(), prev.Node, prev.Until, e.Created())
			}
			began[h.Node]++
			takeovers = append(takeovers, prev.Node+"->"+h.Node)
		}
		held[e.Key()] = h
		nodes := map[string]bool{}
		for k, x := range held {
			if nodes[x.Node] {
				t.Errorf("revision %d: %s holds two slots", e.Revision(), x.Node)
			}
			nodes[x.Node] = true
			if n, err := strconv.Atoi(strings.TrimPrefix(k, lock.KeyPrefix)); err != nil || n >= slots {
				t.Errorf("revision %d: key %s beyond %d slots", e.Revision(), k, slots)
			}
		}
		if len(held) > slots {
			t.Errorf("revision %d: %d holders, %d slots", e.Revision(), len(held), slots)
		}
	}
	return began, takeovers
}

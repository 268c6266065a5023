package lock_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
)

// rebootLog is the simulated reboot command's shared log; the mutex guards only the append.
type rebootLog struct {
	mu sync.Mutex
	iv []interval
}

type interval struct {
	node       string
	start, end time.Time
}

func (l *rebootLog) add(iv interval) { l.mu.Lock(); l.iv = append(l.iv, iv); l.mu.Unlock() }

// maxOverlap is the most intervals open at one instant; an end at the same instant as a start
// closes first (release, then the next acquisition).
func maxOverlap(ivs []interval) int {
	type ev struct {
		at    time.Time
		delta int
	}
	var evs []ev
	for _, iv := range ivs {
		evs = append(evs, ev{iv.start, 1}, ev{iv.end, -1})
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].at.Equal(evs[j].at) {
			return evs[i].delta < evs[j].delta
		}
		return evs[i].at.Before(evs[j].at)
	})
	open, most := 0, 0
	for _, e := range evs {
		open += e.delta
		most = max(most, open)
	}
	return most
}

// recorder holds every revision of the slot keys, read from outside the contenders. The
// provisioned bucket keeps one revision per key, and a live watcher misses revisions replaced
// before it is sent them (seen: a gap), so the test lifts the stream's per-subject limit for
// its run (the lock never reads history) and reads the whole history after it.
type recorder struct {
	entries []jetstream.KeyValueEntry
}

func keepHistory(t *testing.T, ctx context.Context, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
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

func readHistory(t *testing.T, ctx context.Context, kv jetstream.KeyValue) *recorder {
	t.Helper()
	w, err := kv.WatchFiltered(ctx, []string{lock.KeyPrefix + "*"}, jetstream.IncludeHistory())
	if err != nil {
		t.Fatalf("watch history: %v", err)
	}
	defer func() { _ = w.Stop() }()
	r := &recorder{}
	for e := range w.Updates() {
		if e == nil {
			return r
		}
		r.entries = append(r.entries, e)
	}
	t.Fatal("history watcher closed")
	return nil
}

// check replays the history: revisions contiguous (nothing missed), no key written over another
// node's holding before its until, no node in two slots, no more holders than slots; it returns
// how many times each node began a holding and the takeovers seen.
func (r *recorder) check(t *testing.T, slots int) (began map[string]int, takeovers []string) {
	t.Helper()
	began = map[string]int{}
	held := map[string]lock.Holder{}
	for i, e := range r.entries {
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

// TestLockSafety is the lock-safety test: 50 nodes, each with its own connection and
// nothing shared but the bus, request at once; one holder dies holding its slot with a TTL.
func TestLockSafety(t *testing.T) {
	for _, slots := range []int{1, 3} {
		t.Run(fmt.Sprintf("concurrency=%d", slots), func(t *testing.T) { safety(t, slots) })
	}
}

func safety(t *testing.T, slots int) {
	const (
		nodes   = 50
		deadTTL = 100 * time.Millisecond
	)
	open := busConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	watchConn, watchKV := open()
	keepHistory(t, ctx, watchConn)
	log := &rebootLog{}

	deadConn, deadKV := open()
	dead := newLock(t, deadKV, lock.Options{Node: "dead", Slots: slots, TTL: deadTTL})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range nodes - 1 {
		node := nodeName(i)
		_, kv := open()
		l := newLock(t, kv, lock.Options{Node: node, Slots: slots, TTL: time.Minute})
		wg.Go(func() {
			<-start
			h, err := l.Acquire(ctx, "req-"+node)
			if err != nil {
				t.Errorf("%s Acquire: %v", node, err)
				return
			}
			iv := interval{node: node, start: time.Now()}
			// The simulated reboot: long enough that with the dead slot out, 49 reboots outlast the
			// dead node's TTL, so its slot is needed and taken over whatever the concurrency.
			time.Sleep(10 * time.Millisecond)
			iv.end = time.Now()
			log.add(iv)
			if err := l.Release(ctx, h); err != nil {
				t.Errorf("%s Release: %v", node, err)
			}
		})
	}
	// The dead node takes a slot, starts rebooting and never comes back: its connection closes
	// without a release. Its reboot lasts, for the overlap check, until its until.
	hd, err := dead.Acquire(ctx, "req-dead")
	if err != nil {
		t.Fatalf("dead node Acquire: %v", err)
	}
	log.add(interval{"dead", time.Now(), hd.Until})
	deadConn.Close()

	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d reboots with concurrency %d took %s", nodes, slots, time.Since(began))

	rec := readHistory(t, ctx, watchKV)
	st, err := watchKV.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq; uint64(len(rec.entries)) != last {
		t.Fatalf("history has %d entries, stream's last revision is %d", len(rec.entries), last)
	}

	if got := maxOverlap(log.iv); got > slots {
		t.Errorf("reboot log shows %d overlapping reboots, concurrency %d", got, slots)
	} else if slots > 1 && got < 2 {
		t.Errorf("reboot log shows at most %d overlapping reboots with concurrency %d: the test exercised no concurrency", got, slots)
	}
	perNode := map[string]int{}
	for _, iv := range log.iv {
		perNode[iv.node]++
	}
	if len(perNode) != nodes {
		t.Errorf("%d nodes rebooted, want %d", len(perNode), nodes)
	}
	for n, c := range perNode {
		if c != 1 {
			t.Errorf("%s rebooted %d times", n, c)
		}
	}

	holdings, takeovers := rec.check(t, slots)
	if len(holdings) != nodes {
		t.Errorf("KV history shows %d nodes holding, want %d", len(holdings), nodes)
	}
	for n, c := range holdings {
		if c != 1 {
			t.Errorf("KV history: %s began holding %d times, want 1", n, c)
		}
	}
	if len(takeovers) != 1 || !strings.HasPrefix(takeovers[0], "dead->") {
		t.Errorf("takeovers %v, want exactly one, of the dead node's slot", takeovers)
	}
	if hs := holders(t, watchKV); len(hs) != 0 {
		t.Errorf("slots still held at the end: %+v", hs)
	}
}

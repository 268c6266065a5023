package lock_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/services/rebooter/lock"
	"github.com/nodewarden/nodewarden/services/rebooter/lock/locktest"
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
	watchJS, err := jetstream.New(watchConn)
	if err != nil {
		t.Fatal(err)
	}
	locktest.KeepHistory(t, ctx, watchJS)
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

	rec := locktest.ReadHistory(t, ctx, watchKV)

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

	holdings, takeovers := rec.Check(t, slots)
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

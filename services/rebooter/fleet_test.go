package rebooter_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
	"github.com/nodewarden/nodewarden/services/rebooter/lock/locktest"
)

func fleetNode(i int) string { return fmt.Sprintf("node-%02d.fleet.internal", i) }

// TestFleetLockSafety: 50 rebooters, each with its own connection and simulated node, all asked
// at once. From outside: the reboot program's log never shows more than --concurrency reboots
// at once, the lock's KV history never more holders than slots, and every node rebooted once.
func TestFleetLockSafety(t *testing.T) {
	for _, c := range []int{1, 3} {
		t.Run(fmt.Sprintf("concurrency=%d", c), func(t *testing.T) {
			const n = 50
			h := newHarness(t, func(cfg *rebooter.Config) { cfg.Concurrency = c })
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			locktest.KeepHistory(t, ctx, h.jsc)
			var nodes []string
			for i := range n {
				nodes = append(nodes, fleetNode(i))
				h.addNode(fleetNode(i))
			}
			began := time.Now()
			var wg sync.WaitGroup
			for _, node := range nodes {
				wg.Go(func() { h.request(node, "sentinel:"+node, "") })
			}
			wg.Wait()
			h.waitCompleted(3*time.Minute, nodes...)
			t.Logf("%d nodes rebooted with concurrency %d in %s", n, c, time.Since(began).Round(time.Millisecond))

			ivs := h.reboots()
			perNode := map[string]int{}
			for _, iv := range ivs {
				perNode[iv.node]++
			}
			for _, node := range nodes {
				if perNode[node] != 1 {
					t.Errorf("%s rebooted %d times, want 1", node, perNode[node])
				}
			}
			over := maxOverlap(ivs)
			if over > c {
				t.Errorf("the reboot log shows %d reboots at once, concurrency %d", over, c)
			}
			t.Logf("most reboots at once: %d", over)

			kv, err := h.jsc.KeyValue(ctx, topology.BucketRebootLock)
			if err != nil {
				t.Fatal(err)
			}
			hist := locktest.ReadHistory(t, ctx, kv)
			holdings, takeovers := hist.Check(t, c)
			if len(takeovers) != 0 {
				t.Errorf("takeovers %v with no TTL", takeovers)
			}
			for _, node := range nodes {
				if holdings[node] < 1 {
					t.Errorf("%s rebooted without ever holding the lock", node)
				}
			}
			if hs, err := lock.Holders(ctx, kv); err != nil || len(hs) != 0 {
				t.Errorf("lock still held at the end: %+v, %v", hs, err)
			}
			for _, node := range nodes {
				want := []nwv1.RebootPhase{nwv1.RebootPhase_REBOOT_PHASE_REQUESTED, nwv1.RebootPhase_REBOOT_PHASE_LOCKED,
					nwv1.RebootPhase_REBOOT_PHASE_REBOOTING, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED}
				if got := phaseSeq(h.phases(node)); !subsequence(want, got) {
					t.Errorf("%s phases %v, want %v in order", node, got, want)
				}
			}
		})
	}
}

// TestKilledHolderFreesAfterTTL: a rebooter killed mid-reboot (its node never comes back) keeps
// its slot only until --lock-ttl; the others go on; when it does come back it completes without
// a second reboot, so every node reboots exactly once.
func TestKilledHolderFreesAfterTTL(t *testing.T) {
	h := newHarness(t, func(cfg *rebooter.Config) { cfg.LockTTL = 1500 * time.Millisecond })
	var (
		mu     sync.Mutex
		killed string
	)
	h.onReboot = func(node string) bool {
		mu.Lock()
		defer mu.Unlock()
		if killed == "" {
			killed = node
			return false // stays down
		}
		return true
	}
	locktest.KeepHistory(t, context.Background(), h.jsc)
	nodes := []string{fleetNode(0), fleetNode(1), fleetNode(2)}
	for _, n := range nodes {
		h.addNode(n)
	}
	for _, n := range nodes {
		h.request(n, "sentinel:"+n, "")
	}
	var others []string
	testenv.WaitFor(t, time.Minute, "a node to go down for good", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return killed != ""
	})
	for _, n := range nodes {
		if n != killed {
			others = append(others, n)
		}
	}
	h.waitCompleted(time.Minute, others...)
	if h.has(killed, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED, "") {
		t.Fatalf("%s completed while its rebooter was dead", killed)
	}
	h.start(killed) // it comes back at last
	h.waitCompleted(time.Minute, nodes...)
	ctx := context.Background()
	kv, err := h.jsc.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		t.Fatal(err)
	}
	_, takeovers := locktest.ReadHistory(t, ctx, kv).Check(t, 1)
	if len(takeovers) != 1 || !strings.HasPrefix(takeovers[0], killed+"->") {
		t.Errorf("takeovers %v, want one, of %s's slot", takeovers, killed)
	}
	perNode := map[string]int{}
	for _, iv := range h.reboots() {
		perNode[iv.node]++
	}
	for _, n := range nodes {
		if perNode[n] != 1 {
			t.Errorf("%s rebooted %d times, want 1", n, perNode[n])
		}
	}
}

func phaseSeq(sts []*nwv1.RebootStatus) []nwv1.RebootPhase {
	var out []nwv1.RebootPhase
	for _, s := range sts {
		out = append(out, s.Phase)
	}
	return out
}

// subsequence reports whether want appears in got in order, not necessarily adjacent.
func subsequence(want, got []nwv1.RebootPhase) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

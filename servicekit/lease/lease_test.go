package lease

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// tracker records which replicas run which partition, and fails on any overlap.
type tracker struct {
	t       *testing.T
	mu      sync.Mutex
	running map[int]string
	starts  int
}

func (tr *tracker) worker(id string) Worker {
	return func(ctx context.Context, p int) {
		tr.mu.Lock()
		if other, busy := tr.running[p]; busy {
			tr.t.Errorf("partition %d started by %s while %s runs it", p, id, other)
		}
		tr.running[p] = id
		tr.starts++
		tr.mu.Unlock()
		<-ctx.Done()
		tr.mu.Lock()
		delete(tr.running, p)
		tr.mu.Unlock()
	}
}

func (tr *tracker) owners() map[string]int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string]int{}
	for _, id := range tr.running {
		out[id]++
	}
	return out
}

func bucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), topology.BucketDetectorPartitions)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

type replica struct {
	m      *Manager
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, kv jetstream.KeyValue, id string, p int, tr *tracker) *replica {
	t.Helper()
	m, err := New(kv, Options{ID: id, Partitions: p, TTL: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{m: m, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); m.Run(ctx, tr.worker(id)) }()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func TestPartitionsMoveWithMembership(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	kv := bucket(t, js)
	const P = 16
	tr := &tracker{t: t, running: map[int]string{}}

	a := start(t, kv, "a", P, tr)
	testenv.WaitFor(t, 10*time.Second, "a holds all 16", func() bool { return tr.owners()["a"] == P })

	start(t, kv, "b", P, tr)
	c := start(t, kv, "c", P, tr)
	testenv.WaitFor(t, 10*time.Second, "16 partitions shared by a, b and c as desired", func() bool {
		o := tr.owners()
		return o["a"]+o["b"]+o["c"] == P && o["a"] > 0 && o["b"] > 0 && o["c"] > 0
	})
	for p := 0; p < P; p++ {
		want := Owner([]string{"a", "b", "c"}, p)
		tr.mu.Lock()
		got := tr.running[p]
		tr.mu.Unlock()
		if got != want {
			t.Errorf("partition %d run by %s, want %s", p, got, want)
		}
	}

	c.stop()
	testenv.WaitFor(t, 10*time.Second, "c's partitions taken over by a and b", func() bool {
		o := tr.owners()
		return o["a"]+o["b"] == P && o["c"] == 0
	})
	a.stop()
	testenv.WaitFor(t, 10*time.Second, "b holds all", func() bool { return tr.owners()["b"] == P })
}

// A replica that dies without releasing loses its partitions when the leases expire.
func TestExpiredLeasesAreTakenOver(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	kv := bucket(t, js)
	now := time.Now()
	for p := 0; p < 4; p++ {
		b := fmt.Sprintf(`{"holder":"dead","since":%q,"until":%q}`, now.Format(time.RFC3339Nano), now.Add(time.Second).Format(time.RFC3339Nano))
		if _, err := kv.Create(context.Background(), partKey(p), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	tr := &tracker{t: t, running: map[int]string{}}
	start(t, kv, "alive", 4, tr)
	testenv.WaitFor(t, 10*time.Second, "the dead replica's partitions taken over", func() bool { return tr.owners()["alive"] == 4 })
}

func TestOwnerIsStableAndSpread(t *testing.T) {
	members := []string{"r1", "r2", "r3", "r4"}
	count := map[string]int{}
	moved := 0
	for p := 0; p < 64; p++ {
		o := Owner(members, p)
		count[o]++
		if o != "r4" && Owner(members[:3], p) != o {
			moved++ // a partition not r4's must not move when r4 leaves
		}
	}
	if moved != 0 {
		t.Errorf("%d partitions moved between the remaining members when one left", moved)
	}
	for _, m := range members {
		if count[m] < 8 {
			t.Errorf("member %s desired for %d of 64 partitions: %v", m, count[m], count)
		}
	}
}

package promexp

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.t.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func onlyApp(m *nwv1.ContainerSamples) *nwv1.ContainerSamples {
	m.Containers = m.Containers[:1]
	return m
}

// TestStaleness walks a clock past the staleness bound (5 × 10 s): series of nodes and
// containers that stopped reporting vanish, the rest stay, and the store forgets the nodes.
func TestStaleness(t *testing.T) {
	clk := newClock(t0)
	s := NewStore(Options{SampleInterval: 10 * time.Second}, clk.now)
	const a, b = "node-a", "node-b"
	steps := []struct {
		name    string
		advance time.Duration
		observe []proto.Message
		forget  string
		// Expectations after the step.
		nodes, held                int
		usage, nodeCPU, conditions int // series of container_cpu_usage_seconds_total, node_cpu_seconds_total, nodewarden_node_condition
	}{
		{name: "both nodes report", observe: []proto.Message{
			nodeSample(a, t0), containerSamples(a, t0, 1), containerSamples(b, t0, 1),
			problem(b, "p1", cond, "KernelDeadlock", "DockerHung", isT)},
			nodes: 2, held: 2, usage: 4, nodeCPU: 8, conditions: 1},
		{name: "a loses a container for one sample; b is silent", advance: 30 * time.Second,
			observe: []proto.Message{onlyApp(containerSamples(a, t0.Add(30*time.Second), 2))},
			nodes:   2, held: 2, usage: 4, nodeCPU: 8, conditions: 1},
		{name: "past the bound: a's node sample, a's lost container and all of b leave", advance: 21 * time.Second,
			nodes: 1, held: 1, usage: 1, nodeCPU: 0, conditions: 0},
		{name: "a reports again; b's old series stay gone", advance: 5 * time.Second,
			observe: []proto.Message{nodeSample(a, t0.Add(56*time.Second))},
			nodes:   1, held: 1, usage: 1, nodeCPU: 8, conditions: 0},
		{name: "forget a", forget: a, nodes: 0, held: 0},
	}
	for _, st := range steps {
		clk.add(st.advance)
		for _, m := range st.observe {
			if err := s.Observe(m, clk.now()); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if st.forget != "" {
			s.Forget(st.forget)
		}
		for metric, want := range map[string]int{"container_cpu_usage_seconds_total": st.usage,
			"node_cpu_seconds_total": st.nodeCPU, "nodewarden_node_condition": st.conditions} {
			if got := testutil.CollectAndCount(s, metric); got != want {
				t.Errorf("%s: %d series of %s, want %d", st.name, got, metric, want)
			}
		}
		if got := s.Nodes(); got != st.nodes {
			t.Errorf("%s: Nodes() = %d, want %d", st.name, got, st.nodes)
		}
		s.mu.RLock()
		held := len(s.nodes)
		s.mu.RUnlock()
		if held != st.held {
			t.Errorf("%s: store holds %d nodes after a scrape, want %d (stale nodes must be deleted, not only hidden)", st.name, held, st.held)
		}
	}
}

// TestConcurrentObserveAndScrape runs ingestion and scrapes together; -race checks the locking,
// and every scrape must be a consistent exposition.
func TestConcurrentObserveAndScrape(t *testing.T) {
	s := NewStore(Options{SampleInterval: 10 * time.Second}, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				node := fmt.Sprintf("n%d-%d", w, i%20)
				now := time.Now()
				for _, m := range []proto.Message{containerSamples(node, now, float64(i)), nodeSample(node, now),
					problem(node, fmt.Sprint(i), event, "", "OOMKilling", 0)} {
					if err := s.Observe(m, now); err != nil {
						t.Error(err)
						return
					}
				}
				if i%50 == 0 {
					s.Forget(node)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	for scrapes := 0; ; scrapes++ {
		if _, err := reg.Gather(); err != nil {
			t.Error(err)
		}
		_ = s.Series()
		select {
		case <-done:
			if scrapes == 0 {
				t.Log("ingestion finished before the first scrape did")
			}
			return
		default:
		}
	}
}

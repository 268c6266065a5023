// Package promexp is the sink's Prometheus output: a Store keeps the latest state of every
// node, container and problem series the sink consumes and exposes it, as a
// prometheus.Collector, with the names and labels of cAdvisor, node_exporter and Node Problem
// Detector, so existing dashboards and alert rules work unchanged. Series of nodes and
// containers that stop reporting leave after a staleness bound, so the exposition cannot grow
// without bound; PartitionOf tells which nodes a sink replica holds.
package promexp

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Store is the latest state per series. Observe is safe to call from many goroutines while
// Prometheus scrapes: a scrape copies pointers to immutable snapshots under a read lock and
// builds the metrics outside it, so ingestion never waits for a scrape to finish.
type Store struct {
	stale time.Duration
	now   func() time.Time

	mu        sync.RWMutex
	nodes     map[string]*entry
	lastSweep time.Time
}

var _ prometheus.Collector = (*Store)(nil)

// entry is one node's state; its fields are replaced, never modified in place, under mu.
type entry struct {
	lastSeen   time.Time // any message of the node
	node       *nodeSnap
	containers *containerSnap
	health     map[string]*healthSnap // copied on write
	problems   *problemSnap
	dedupe     dedupe // only touched under the write lock
}

// NewStore returns an empty store. now is the clock that decides staleness at scrape time;
// nil means time.Now.
func NewStore(opts Options, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{stale: opts.Staleness(), now: now, nodes: map[string]*entry{}}
}

// Observe records m, received at now. It accepts *NodeSample, *ContainerSamples, *HealthReport
// and *Problem, and returns an error for any other message or one without a node. A sample
// older than the one held (a redelivery) is ignored, so counters never go backwards; a problem
// id seen recently is counted once. Observe keeps m: the caller must not modify it afterwards.
func (s *Store) Observe(m proto.Message, now time.Time) error {
	switch m := m.(type) {
	case *nwv1.NodeSample:
		node, err := nodeOf(m.GetNode())
		if err != nil {
			return err
		}
		snap := &nodeSnap{seen: now, msg: m}
		s.update(node, now, func(e *entry) {
			if e.node == nil || !m.GetTime().AsTime().Before(e.node.msg.GetTime().AsTime()) {
				e.node = snap
			}
		})
	case *nwv1.ContainerSamples:
		node, err := nodeOf(m.GetNode())
		if err != nil {
			return err
		}
		snap := buildContainers(node, m, now, s.containersOf(node))
		cutoff := now.Add(-s.stale)
		s.update(node, now, func(e *entry) {
			if e.containers != nil && snap.msgTime.Before(e.containers.msgTime) {
				return
			}
			mergeContainers(e.containers, snap, cutoff)
			e.containers = snap
		})
	case *nwv1.HealthReport:
		node, err := nodeOf(m.GetNode())
		if err != nil {
			return err
		}
		h := &healthSnap{seen: now, msgTime: m.GetTime().AsTime(), component: clean(m.GetComponent()),
			healthy: m.GetHealthy(), latency: m.GetLatency().AsDuration().Seconds(), restarts: m.GetRestartCount()}
		s.update(node, now, func(e *entry) {
			if old := e.health[h.component]; old != nil && h.msgTime.Before(old.msgTime) {
				return
			}
			next := make(map[string]*healthSnap, len(e.health)+1)
			for k, v := range e.health {
				next[k] = v
			}
			next[h.component] = h
			e.health = next
		})
	case *nwv1.Problem:
		node, err := nodeOf(m.GetNode())
		if err != nil {
			return err
		}
		s.update(node, now, func(e *entry) {
			if !e.dedupe.seen(m.GetId()) {
				e.problems = e.problems.apply(m)
			}
		})
	default:
		return fmt.Errorf("prometheus output: unexpected message %T", m)
	}
	return nil
}

func nodeOf(node string) (string, error) {
	if node == "" {
		return "", fmt.Errorf("prometheus output: message without a node")
	}
	return clean(node), nil
}

// update applies f to node's entry under the write lock, sweeping stale nodes when due.
// containersOf is the node's container snapshot held, or nil.
func (s *Store) containersOf(node string) *containerSnap {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.nodes[node]; e != nil {
		return e.containers
	}
	return nil
}

func (s *Store) update(node string, now time.Time, f func(*entry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.nodes[node]
	if e == nil {
		e = &entry{}
		s.nodes[node] = e
	}
	if now.After(e.lastSeen) {
		e.lastSeen = now
	}
	f(e)
	s.sweepLocked(now)
}

// sweepLocked deletes the nodes not heard from for the staleness bound, at most once per
// bound, so the store's size follows the live nodes.
func (s *Store) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < s.stale {
		return
	}
	s.lastSweep = now
	cutoff := now.Add(-s.stale)
	for n, e := range s.nodes {
		if !e.lastSeen.After(cutoff) {
			delete(s.nodes, n)
		}
	}
}

// Forget drops everything held for node, as when the sink loses the partition holding it.
func (s *Store) Forget(node string) {
	s.mu.Lock()
	delete(s.nodes, clean(node))
	s.mu.Unlock()
}

// view is a copy of one node's snapshot pointers, taken under the read lock.
type view struct {
	name       string
	lastSeen   time.Time
	node       *nodeSnap
	containers *containerSnap
	health     map[string]*healthSnap
	problems   *problemSnap
}

func (s *Store) views() []view {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := make([]view, 0, len(s.nodes))
	for n, e := range s.nodes {
		vs = append(vs, view{n, e.lastSeen, e.node, e.containers, e.health, e.problems})
	}
	return vs
}

// each emits (or, with ch nil, counts) the series of every fresh node.
func (s *Store) each(ch chan<- prometheus.Metric) (nodes, series int) {
	cutoff := s.now().Add(-s.stale)
	var cs []*containerSeries
	var is []*iface
	for _, v := range s.views() {
		if !v.lastSeen.After(cutoff) {
			continue
		}
		nodes++
		if v.node != nil && v.node.seen.After(cutoff) {
			series += v.node.collect(ch, v.name)
		}
		if v.containers != nil {
			if ch != nil {
				cs, is = v.containers.fresh(cs, is, cutoff)
			}
			series += v.containers.series(cutoff)
		}
		for _, h := range v.health {
			if h.seen.After(cutoff) {
				series += h.collect(ch, v.name)
			}
		}
		if v.problems != nil {
			series += v.problems.collect(ch, v.name)
		}
	}
	if ch != nil {
		collectContainers(ch, cs, is)
	}
	return nodes, series
}

// Nodes is the number of nodes with fresh series.
func (s *Store) Nodes() int {
	n, _ := s.each(nil)
	return n
}

// Series is the number of series a scrape would expose now.
func (s *Store) Series() int {
	_, n := s.each(nil)
	return n
}

// Describe sends every descriptor the store can emit.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range containerMetrics {
		ch <- m.desc
	}
	for _, d := range networkMetrics {
		ch <- d
	}
	for _, d := range nodeDescs {
		ch <- d
	}
	ch <- problemCounter
	ch <- problemGauge
	ch <- nodeCondition
}

// Collect sends the fresh series, and deletes the stale nodes when a sweep is due (a sink whose
// nodes all stopped reporting receives no Observe that would).
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	now := s.now()
	s.mu.Lock()
	s.sweepLocked(now)
	s.mu.Unlock()
	s.each(ch)
}

package promexp

import (
	"maps"

	"github.com/prometheus/client_golang/prometheus"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// NPD's problem metrics (pkg/problemmetrics) with its names, labels and help texts, plus node:
// NPD runs on each node, the sink serves many.
var (
	problemCounter = prometheus.NewDesc("problem_counter", "Number of times a specific type of problem have occurred.",
		[]string{"node", "reason"}, nil)
	problemGauge = prometheus.NewDesc("problem_gauge", "Whether a specific type of problem is affecting the node or not.",
		[]string{"node", "type", "reason"}, nil)
	nodeCondition = prometheus.NewDesc("nodewarden_node_condition", "Whether the node condition is True (1) or not (0).",
		[]string{"node", "condition"}, nil)
)

// problemSnap is a node's problem metrics, immutable once built: a problem copies and changes it.
type problemSnap struct {
	counters   map[string]float64            // reason → temporary problems and changes to True
	gauges     map[string]map[string]float64 // condition type → reason → 0|1
	conditions map[string]float64            // condition type → 1 if True
	n          int
}

// apply is prev (nil for none) with p counted, as NPD's log monitor does: a temporary problem
// and a condition turning True count once for their reason; the condition's gauge is 1 for the
// reason it is True for and 0 for the type's earlier reasons, so at most one reason per type is 1.
func (prev *problemSnap) apply(p *nwv1.Problem) *problemSnap {
	next := &problemSnap{counters: map[string]float64{}, gauges: map[string]map[string]float64{}, conditions: map[string]float64{}}
	if prev != nil {
		maps.Copy(next.counters, prev.counters)
		maps.Copy(next.conditions, prev.conditions)
		for t, rs := range prev.gauges {
			next.gauges[t] = rs // copied below only for the type that changes
		}
	}
	reason := clean(p.GetReason())
	switch p.GetKind() {
	case nwv1.ProblemKind_PROBLEM_KIND_EVENT:
		next.counters[reason]++
	case nwv1.ProblemKind_PROBLEM_KIND_CONDITION:
		typ := clean(p.GetType())
		if typ == "" {
			return prev
		}
		on := p.GetStatus() == nwv1.ConditionStatus_CONDITION_STATUS_TRUE
		rs := map[string]float64{}
		for r := range next.gauges[typ] {
			rs[r] = 0
		}
		v := 0.0
		if on {
			v = 1
			next.counters[reason]++
		}
		rs[reason] = v
		next.gauges[typ] = rs
		next.conditions[typ] = v
	default:
		return prev
	}
	next.n = len(next.counters) + len(next.conditions)
	for _, rs := range next.gauges {
		next.n += len(rs)
	}
	return next
}

func (s *problemSnap) collect(ch chan<- prometheus.Metric, node string) int {
	if ch == nil {
		return s.n
	}
	for r, v := range s.counters {
		emit(ch, problemCounter, prometheus.CounterValue, v, []string{node, r})
	}
	for t, rs := range s.gauges {
		for r, v := range rs {
			emit(ch, problemGauge, prometheus.GaugeValue, v, []string{node, t, r})
		}
	}
	for t, v := range s.conditions {
		emit(ch, nodeCondition, prometheus.GaugeValue, v, []string{node, t})
	}
	return s.n
}

// dedupe remembers the last problem ids of a node, so a redelivered problem is not counted twice.
type dedupe struct {
	ids  map[string]struct{}
	ring []string
	next int
}

const dedupeSize = 256

// seen reports whether id was seen, remembering it.
func (d *dedupe) seen(id string) bool {
	if id == "" {
		return false
	}
	if _, ok := d.ids[id]; ok {
		return true
	}
	if d.ids == nil {
		d.ids = make(map[string]struct{}, dedupeSize)
		d.ring = make([]string, dedupeSize)
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.ids, old)
	}
	d.ring[d.next] = id
	d.next = (d.next + 1) % dedupeSize
	d.ids[id] = struct{}{}
	return false
}

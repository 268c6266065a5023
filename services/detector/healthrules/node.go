package healthrules

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// Node is one node's evaluation state: counters and timers per rule and per component or mount
// point, the status of every condition, and the last report and sample seen, to drop repeats.
// It is not safe for concurrent use; the detector owns one per node, on that node's partition.
type Node struct {
	cfg    *Config
	status map[string]*condState
	health []map[string]*healthSeries // per health rule, by component
	thresh []map[string]*threshSeries // per threshold rule, by mount point ("" for node metrics)

	comps   map[string]*order // health reports, by component
	matches map[string][]int  // component → matching health rules (cached per node: Config is shared)
	samples order             // node samples
	bootID  string            // of the last sample
	gen     uint64            // counts samples, to tell series a sample did not mention
	touched []touch           // scratch for one evaluation
}

type condState struct {
	status bool
	// restored: the status came from Restore and no rule has decided it since, so a series
	// created now starts in that status instead of assuming a healthy past.
	restored bool
	source   string // the kind of rules that set it
}

// NewNode starts a node with every condition False.
func (c *Config) NewNode() *Node {
	n := &Node{cfg: c, status: map[string]*condState{}, comps: map[string]*order{}, matches: map[string][]int{},
		health: make([]map[string]*healthSeries, len(c.HealthRules)),
		thresh: make([]map[string]*threshSeries, len(c.ThresholdRules))}
	for _, cd := range c.conds {
		n.status[cd.Type] = &condState{source: cd.Source}
	}
	for i := range n.health {
		n.health[i] = map[string]*healthSeries{}
	}
	for i := range n.thresh {
		n.thresh[i] = map[string]*threshSeries{}
	}
	return n
}

// Restore sets a condition's status as the detector last published it (from NW_CONDITIONS,
// after a restart or a partition handover), so that evaluation continues from it: a restored
// True is cleared only by the rule's clearing criterion (K' healthy reports, or the metric off
// its bound for clearFor), and never announced again while it holds. Call it before feeding
// reports; it forgets the counters of that condition's rules. Unknown conditions are ignored.
func (n *Node) Restore(condition string, status bool) {
	st := n.status[condition]
	if st == nil {
		return
	}
	st.status, st.restored = status, status
	for _, i := range n.cfg.byCond[condition] {
		if st.source == SourceHealth {
			clear(n.health[i])
		} else {
			clear(n.thresh[i])
		}
	}
}

// Status is a condition's current status as this Node sees it.
func (n *Node) Status(condition string) bool {
	st := n.status[condition]
	return st != nil && st.status
}

// settle recomputes a condition from its rules' series after rule i of source changed, and
// returns the change if its status flipped: True when any series of any of its rules fires.
func (n *Node) settle(condition, source string, i int, t time.Time, message string) (Change, bool) {
	firing := false
	for _, j := range n.cfg.byCond[condition] {
		if source == SourceHealth {
			for _, s := range n.health[j] {
				firing = firing || s.firing
			}
		} else {
			for _, s := range n.thresh[j] {
				firing = firing || s.firing
			}
		}
	}
	st := n.status[condition]
	if firing == st.status {
		return Change{}, false
	}
	st.status, st.restored = firing, false
	ch := Change{Condition: condition, Status: firing, Time: t, Source: source, Rule: i}
	if source == SourceHealth {
		r := &n.cfg.HealthRules[i]
		ch.Severity, ch.Reason, ch.Message = r.Severity, r.ClearReason, r.ClearMessage
		if firing {
			ch.Reason, ch.Message = r.Reason, message
		}
	} else {
		r := &n.cfg.ThresholdRules[i]
		ch.Severity, ch.Reason, ch.Message = r.Severity, r.ClearReason, r.ClearMessage
		if firing {
			ch.Reason, ch.Message = r.Reason, message
		}
	}
	return ch, true
}

// order is the last accepted message of one sequence (a component's health reports, or a
// node's samples), to drop duplicates and messages delivered out of order. Sequences restart
// with the collector: when messages say which collector run they come from (collector_start), a
// later run starts afresh and within a run the sequence orders them; when they do not, the
// message time orders them, the sequence breaking ties, so a restarted collector's low sequence
// still counts.
type order struct {
	seen  bool
	start time.Time // collector_start; zero when the messages do not carry it
	seq   uint64
	t     time.Time
}

// accept reports whether a message is new and the time to evaluate it at: never earlier than
// the last accepted message's, so a clock stepping back within a run cannot run timers backwards.
func (o *order) accept(start time.Time, seq uint64, t time.Time) (time.Time, bool) {
	switch {
	case !o.seen:
	case !start.IsZero() && !o.start.IsZero():
		if start.Before(o.start) || start.Equal(o.start) && seq <= o.seq {
			return time.Time{}, false // a repeat, or late from this or an earlier run
		}
	case t.Before(o.t) || t.Equal(o.t) && seq <= o.seq:
		return time.Time{}, false
	}
	if o.seen && t.Before(o.t) {
		t = o.t
	}
	*o = order{seen: true, start: start, seq: seq, t: t}
	return t, true
}

// startOf reads a message's collector_start, zero when it has none.
func startOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

package counter

import (
	"fmt"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// maxHits bounds the lines a rule with a revert pattern remembers per node (a rule without
// one needs only its last Count). Beyond it the oldest are forgotten: a flood of more than
// maxHits matching lines within one window is counted as maxHits.
const maxHits = 1 << 16

// Change is what a counter rule raises: a condition changing status (permanent rules), or an
// event (temporary rules, each time their count reaches Count).
type Change struct {
	Rule      int  // index in File.Rules; -1 for a restored condition that has no rule
	Event     bool // a temporary rule's event, not a condition change
	Condition string
	Status    bool
	Reason    string
	Message   string
	Severity  string // the rule's, possibly empty (the caller's default)
	Reboot    bool   // a condition becoming True whose rule asks for a reboot
	Source    string // File.Source
	// Time is the time of the line that caused it, or, when the window slid past the oldest
	// line counted, that line's time + Window.
	Time time.Time
	// Seq is the sequence of the line that caused it; 0 when the window slid (Tick).
	Seq uint64
}

// Node is one node's counter state for one File. It is not safe for concurrent use; the
// detector owns one per node.
type Node struct {
	f       *File
	rules   []ruleState
	conds   map[string]*condState
	byCond  map[string][]int // condition → its permanent rules
	lineNow time.Time        // the latest line time: earlier ones count as at this time
	now     time.Time        // the latest line or Tick time: expiry has been applied up to here
	scratch []matcher.Match
}

type ruleState struct {
	buf    *matcher.Buffer
	hits   []hit // live hits are hits[head:], oldest first
	head   int
	sum    int
	firing bool
}

type hit struct {
	t time.Time
	w int // +1 for the pattern, -1 for the revert pattern
}

type condState struct {
	def       npdconfig.Condition
	status    bool
	reason    string
	held      bool // a restored True, kept until holdUntil whatever the rules say
	holdUntil time.Time
}

// NewNode starts a node with every condition False and nothing counted.
func (f *File) NewNode() *Node {
	n := &Node{f: f, rules: make([]ruleState, len(f.Rules)), conds: map[string]*condState{}, byCond: map[string][]int{}}
	for i := range f.Rules {
		n.rules[i].buf = f.Rules[i].set.NewBuffer()
		if r := &f.Rules[i]; r.Type == npdconfig.Permanent {
			n.byCond[r.Condition] = append(n.byCond[r.Condition], i)
		}
	}
	for _, c := range f.Conditions {
		n.conds[c.Type] = &condState{def: c, reason: c.Reason}
	}
	return n
}

// Restore sets a condition's status as the detector last recorded it (NW_CONDITIONS). The lines
// that counted towards a True are gone, so a restored True holds until one window (the longest
// of its rules) after at — the last time lines may have gone unseen — and then follows its
// rules again (clearing unless one fires).
func (n *Node) Restore(condition string, status bool, reason string, at time.Time) {
	cs := n.conds[condition]
	if cs == nil {
		return
	}
	cs.status, cs.held = status, status
	if !status {
		cs.reason = cs.def.Reason
		return
	}
	cs.reason = reason
	var w time.Duration
	for _, i := range n.byCond[condition] {
		w = max(w, n.f.Rules[i].Window)
	}
	cs.holdUntil = at.Add(w)
}

// Status is a condition's current status.
func (n *Node) Status(condition string) bool {
	cs := n.conds[condition]
	return cs != nil && cs.status
}

// Observe evaluates one line of a log source and returns what it changes. Lines of sources the
// file does not read cost a map lookup. Times come from the lines; a line older than one seen
// before counts as at that time.
func (n *Node) Observe(source string, l matcher.Line) []Change {
	idx := n.f.bySource[source]
	if len(idx) == 0 {
		return nil
	}
	if l.Time.Before(n.lineNow) {
		l.Time = n.lineNow
	}
	n.lineNow = l.Time
	out := n.advance(l.Time, nil)
	for _, i := range idx {
		rs, r := &n.rules[i], &n.f.Rules[i]
		n.scratch = rs.buf.Push(l, n.scratch[:0])
		w := 0
		for _, m := range n.scratch {
			if m.RuleIndex == 0 {
				w++
			} else {
				w--
			}
		}
		if w == 0 {
			continue
		}
		rs.add(hit{t: l.Time, w: w}, r)
		out = n.evaluate(i, l.Time, l.Seq, out)
	}
	return out
}

// Tick lets time pass without a line: lines that fell out of their window stop counting, and
// restored conditions past their hold clear. now must be on the lines' clock (the node's); a
// now before an earlier Tick or line does nothing.
func (n *Node) Tick(now time.Time) []Change {
	return n.advance(now, nil)
}

// advance applies every expiry before now, oldest first, so the changes carry the times at
// which they happened whatever the caller's tick rate.
func (n *Node) advance(now time.Time, out []Change) []Change {
	if !now.After(n.now) {
		return out
	}
	n.now = now
	for {
		rule, cond := -1, ""
		var at time.Time
		for i := range n.rules {
			rs := &n.rules[i]
			if rs.head == len(rs.hits) {
				continue
			}
			if e := rs.hits[rs.head].t.Add(n.f.Rules[i].Window); e.Before(now) && (rule < 0 || e.Before(at)) {
				rule, at = i, e
			}
		}
		for _, c := range n.f.Conditions { // file order: ties resolve the same way every time
			cs := n.conds[c.Type]
			if cs.held && cs.holdUntil.Before(now) && (rule < 0 && cond == "" || cs.holdUntil.Before(at)) {
				rule, cond, at = -1, c.Type, cs.holdUntil
			}
		}
		switch {
		case cond != "":
			n.conds[cond].held = false
			out = n.settle(cond, at, 0, out)
		case rule >= 0:
			// Hits of one instant leave together: with revert hits, one at a time could
			// flap the condition within that instant.
			rs, w := &n.rules[rule], n.f.Rules[rule].Window
			for rs.head < len(rs.hits) && rs.hits[rs.head].t.Add(w).Equal(at) {
				rs.pop()
			}
			out = n.evaluate(rule, at, 0, out)
		default:
			return out
		}
	}
}

func (rs *ruleState) add(h hit, r *Rule) {
	rs.hits = append(rs.hits, h)
	rs.sum += h.w
	// Without a revert pattern only the last Count hits decide: the count in the window
	// reaches Count exactly while the Count-th latest hit is in it.
	limit := maxHits
	if r.RevertPattern == nil {
		limit = r.Count
	}
	for len(rs.hits)-rs.head > limit {
		rs.pop()
	}
}

func (rs *ruleState) pop() {
	rs.sum -= rs.hits[rs.head].w
	rs.hits[rs.head] = hit{}
	rs.head++
	if rs.head == len(rs.hits) {
		rs.hits, rs.head = rs.hits[:0], 0
	} else if rs.head > 32 && rs.head*2 > len(rs.hits) {
		rs.hits = rs.hits[:copy(rs.hits, rs.hits[rs.head:])]
		rs.head = 0
	}
}

// evaluate turns rule i's count into what it raises when it crossed Count.
func (n *Node) evaluate(i int, t time.Time, seq uint64, out []Change) []Change {
	rs, r := &n.rules[i], &n.f.Rules[i]
	firing := rs.sum >= r.Count
	if firing == rs.firing {
		return out
	}
	rs.firing = firing
	if r.Type == npdconfig.Temporary {
		if firing {
			out = append(out, Change{Rule: i, Event: true, Reason: r.Reason, Message: n.message(rs, r),
				Severity: r.Severity, Source: n.f.Source, Time: t, Seq: seq})
		}
		return out
	}
	return n.settle(r.Condition, t, seq, out)
}

// settle brings a condition to what its rules say: True while any fires (with the reason of the
// first in file order that fires) or while a restored True holds (lines counted before the
// restart may still be in the window, whatever has fired since); False otherwise. Only transitions, and a True whose reason changes (NPD reports that too),
// are returned.
func (n *Node) settle(typ string, t time.Time, seq uint64, out []Change) []Change {
	cs := n.conds[typ]
	rules := n.byCond[typ]
	ch := Change{Rule: -1, Condition: typ, Source: n.f.Source, Time: t, Seq: seq}
	if len(rules) > 0 {
		ch.Rule, ch.Severity = rules[0], n.f.Rules[rules[0]].Severity
	}
	for _, i := range rules {
		if rs, r := &n.rules[i], &n.f.Rules[i]; rs.firing {
			ch.Rule, ch.Status, ch.Reason, ch.Message, ch.Severity, ch.Reboot = i, true, r.Reason, n.message(rs, r), r.Severity, r.Reboot
			break
		}
	}
	switch {
	case ch.Status:
		if cs.status && cs.reason == ch.Reason {
			return out
		}
	case cs.held || !cs.status:
		return out
	default:
		ch.Reason, ch.Message = cs.def.Reason, cs.def.Message
	}
	cs.status, cs.reason = ch.Status, ch.Reason
	return append(out, ch)
}

// message is log-counter's output when the count meets the threshold, cut as NPD cuts a
// plugin's output.
func (n *Node) message(rs *ruleState, r *Rule) string {
	s := fmt.Sprintf("Found %d matching logs, which meets the threshold of %d", rs.sum, r.Count)
	if len(s) > n.f.MaxOutputLength {
		s = s[:n.f.MaxOutputLength]
	}
	return s
}

package rules

import (
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/detector/counter"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// Kinds of problem `rules test` prints.
const (
	ProblemEvent     = "event"     // a temporary rule matched
	ProblemCondition = "condition" // a condition changed status (or reason)
	ProblemReboot    = "reboot"    // a condition whose rule has reboot: true became True
)

// problem is one thing the rules raise, as the detector would publish it.
type problem struct {
	kind      string
	at        time.Time
	condition string
	status    bool
	reason    string
	message   string
}

// evaluator is one node's detector state for the test: a matcher buffer per system-log-monitor
// file, a counter node per log-counter file, and the node's conditions, shared by every file
// as they are in NW_CONDITIONS (keyed by node and condition).
type evaluator struct {
	mons     []monState
	counters []ctrState
	conds    map[string]*condState
	scratch  []matcher.Match
}

type monState struct {
	mon *npdconfig.Monitor
	buf *matcher.Buffer
}

type ctrState struct {
	file *counter.File
	node *counter.Node
}

type condState struct {
	status bool
	reason string
}

// newEvaluator starts a node with every condition of the files False, with its default reason.
func newEvaluator(files []*ruleFile) *evaluator {
	ev := &evaluator{conds: map[string]*condState{}}
	initial := func(cs []npdconfig.Condition) {
		for _, c := range cs {
			if ev.conds[c.Type] == nil {
				ev.conds[c.Type] = &condState{reason: c.Reason}
			}
		}
	}
	for _, f := range files {
		switch {
		case f.mon != nil:
			ev.mons = append(ev.mons, monState{mon: f.mon, buf: f.set.NewBuffer()})
			initial(f.mon.Conditions)
		case f.ctr != nil:
			ev.counters = append(ev.counters, ctrState{file: f.ctr, node: f.ctr.NewNode()})
			initial(f.ctr.Conditions)
		}
	}
	return ev
}

// feed evaluates one line. Every file sees it as a line of its own source: the test feeds one
// log, and the user chose the files for it.
func (ev *evaluator) feed(l matcher.Line, out []problem) []problem {
	// Counted lines leaving their window before this line: their changes come first, in time.
	for i := range ev.counters {
		out = ev.counterChanges(out, ev.counters[i].node.Tick(l.Time))
	}
	for i := range ev.mons {
		ms := &ev.mons[i]
		ev.scratch = ms.buf.Push(l, ev.scratch[:0])
		for _, m := range ev.scratch {
			r := m.Rule
			// NPD dates a problem by the first line of the match.
			at := m.Lines[0].Time
			if r.Type == npdconfig.Temporary {
				out = append(out, problem{kind: ProblemEvent, at: at, reason: r.Reason, message: m.Message})
				continue
			}
			out = ev.set(out, r.Condition, true, r.Reason, m.Message, at, r.Reboot)
		}
	}
	for i := range ev.counters {
		cs := &ev.counters[i]
		for _, src := range cs.file.Sources() {
			out = ev.counterChanges(out, cs.node.Observe(src, l))
		}
	}
	return out
}

func (ev *evaluator) counterChanges(out []problem, changes []counter.Change) []problem {
	for _, c := range changes {
		if c.Event {
			out = append(out, problem{kind: ProblemEvent, at: c.Time, reason: c.Reason, message: c.Message})
			continue
		}
		out = ev.set(out, c.Condition, c.Status, c.Reason, c.Message, c.Time, c.Reboot)
	}
	return out
}

// set moves a condition as the detector's engine does: a change is published when the status
// changes, or when a True condition gets another reason (NPD's rule); anything else is a repeat.
func (ev *evaluator) set(out []problem, typ string, status bool, reason, message string, at time.Time, reboot bool) []problem {
	cs := ev.conds[typ]
	if cs == nil {
		cs = &condState{}
		ev.conds[typ] = cs
	}
	if cs.status == status && (cs.reason == reason || !status) {
		return out
	}
	cs.status, cs.reason = status, reason
	out = append(out, problem{kind: ProblemCondition, at: at, condition: typ, status: status, reason: reason, message: message})
	if reboot && status {
		out = append(out, problem{kind: ProblemReboot, at: at, condition: typ, status: true, reason: reason, message: "RebootRequired"})
	}
	return out
}

// trueConditions lists the conditions True now.
func (ev *evaluator) trueConditions() []string {
	var out []string
	for typ, cs := range ev.conds {
		if cs.status {
			out = append(out, typ)
		}
	}
	return out
}

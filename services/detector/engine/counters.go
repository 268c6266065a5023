package engine

import (
	"context"
	"strconv"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/services/detector/counter"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// counterNodes returns a node's counter state (NPD log-counter files), created on first use with
// the files' conditions restored from the store.
func (e *Engine) counterNodes(ctx context.Context, n *node) ([]*counter.Node, error) {
	if n.counters != nil || len(e.rules.Counters) == 0 {
		return n.counters, nil
	}
	out := make([]*counter.Node, 0, len(e.rules.Counters))
	for _, f := range e.rules.Counters {
		var defs []conditions.State
		for _, c := range f.Conditions {
			defs = append(defs, conditions.State{Type: c.Type, Reason: c.Reason, Message: c.Message})
		}
		if err := e.initConditions(ctx, n, "counter:"+f.Path, defs); err != nil {
			return nil, err
		}
		cn := f.NewNode()
		for _, d := range defs {
			c, err := e.cond(ctx, n, d.Type)
			if err != nil {
				return nil, err
			}
			cn.Restore(d.Type, c.st.Status == conditions.True, c.st.Reason, c.st.Since)
		}
		out = append(out, cn)
	}
	n.counters = out
	return out, nil
}

// counted reads whether any counter file reads a source.
func (e *Engine) counted(source string) bool {
	for _, f := range e.rules.Counters {
		for _, s := range f.Sources() {
			if s == source {
				return true
			}
		}
	}
	return false
}

// observeCounters feeds one line to the counter files and queues what it changes.
func (e *Engine) observeCounters(ctx context.Context, n *node, source string, l matcher.Line) error {
	cns, err := e.counterNodes(ctx, n)
	if err != nil {
		return err
	}
	for _, cn := range cns {
		for _, ch := range cn.Observe(source, l) {
			n.pending = append(n.pending, e.fromCounter(n, ch))
		}
	}
	return nil
}

// tickCounters lets the counters' windows slide to a node's sample time.
func (e *Engine) tickCounters(ctx context.Context, n *node, s *nwv1.NodeSample) error {
	if s.Time == nil {
		return nil
	}
	cns, err := e.counterNodes(ctx, n)
	if err != nil {
		return err
	}
	for _, cn := range cns {
		for _, ch := range cn.Tick(s.Time.AsTime()) {
			n.pending = append(n.pending, e.fromCounter(n, ch))
		}
	}
	return nil
}

func (e *Engine) fromCounter(n *node, ch counter.Change) change {
	at := strconv.FormatInt(ch.Time.UnixNano(), 10)
	if ch.Event {
		return change{event: true, typ: "", status: true, reason: ch.Reason, message: ch.Message, source: ch.Source,
			severity: severity(ch.Severity, nwv1.Severity_SEVERITY_WARNING), at: ch.Time,
			id: "ev:" + n.name + ":" + ch.Source + ":counter:" + strconv.Itoa(ch.Rule) + ":" + at}
	}
	st := "F"
	if ch.Status {
		st = "T"
	}
	return change{typ: ch.Condition, status: ch.Status, reason: ch.Reason, message: ch.Message, source: ch.Source,
		severity: severity(ch.Severity, nwv1.Severity_SEVERITY_WARNING), at: ch.Time, reboot: ch.Reboot,
		id: "cond:" + n.name + ":" + ch.Condition + ":counter:" + st + ":" + at}
}

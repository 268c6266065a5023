package engine

import (
	"context"
	"strconv"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/services/detector/healthrules"
)

// healthNode returns a node's health and threshold rule state, created on first use with its
// conditions restored from the store, so a restart or handover continues where the store says.
func (e *Engine) healthNode(ctx context.Context, n *node) (*healthrules.Node, error) {
	if n.health != nil || e.rules.Health == nil {
		return n.health, nil
	}
	var defs []conditions.State
	for _, c := range e.rules.Health.Conditions() {
		defs = append(defs, conditions.State{Type: c.Type, Reason: c.Reason, Message: c.Message, Severity: c.Severity})
	}
	if err := e.initConditions(ctx, n, "health", defs); err != nil {
		return nil, err
	}
	h := e.rules.Health.NewNode()
	for _, d := range defs {
		c, err := e.cond(ctx, n, d.Type)
		if err != nil {
			return nil, err
		}
		h.Restore(d.Type, c.st.Status == conditions.True)
	}
	n.health = h
	return h, nil
}

func (e *Engine) handleHealth(ctx context.Context, r *nwv1.HealthReport) error {
	n := e.node(r.Node)
	if err := e.flush(ctx, n); err != nil {
		return err
	}
	h, err := e.healthNode(ctx, n)
	if err != nil || h == nil {
		return err
	}
	return e.applyChanges(ctx, n, h.Health(r))
}

// handleSample notices reboots (a new boot id clears the log conditions NPD would leave True
// until it restarted) and evaluates threshold rules.
func (e *Engine) handleSample(ctx context.Context, s *nwv1.NodeSample) error {
	n := e.node(s.Node)
	if err := e.flush(ctx, n); err != nil {
		return err
	}
	if s.BootId != "" && s.BootId != n.bootID {
		prev := n.bootID
		n.bootID = s.BootId
		if prev != "" {
			if err := e.clearAfterReboot(ctx, n, s); err != nil {
				n.bootID = prev // retry the clearing with the same sample
				return err
			}
		}
	}
	if len(n.clears) > 0 && s.Time != nil {
		if err := e.expireClears(ctx, n, s.Time.AsTime()); err != nil {
			return err
		}
	}
	if err := e.tickCounters(ctx, n, s); err != nil {
		return err
	}
	h, err := e.healthNode(ctx, n)
	if err != nil {
		return err
	}
	if h == nil {
		return e.flush(ctx, n)
	}
	return e.applyChanges(ctx, n, h.Sample(s))
}

// clearAfterReboot sets False every log condition that became True in an earlier boot.
func (e *Engine) clearAfterReboot(ctx context.Context, n *node, s *nwv1.NodeSample) error {
	for _, mon := range e.rules.Monitors {
		for _, def := range mon.File.Conditions {
			c, err := e.cond(ctx, n, def.Type)
			if err != nil {
				return err
			}
			if c.st.Status != conditions.True || c.st.BootID == s.BootId {
				continue
			}
			err = e.setCondition(ctx, n, change{typ: def.Type, status: false, reason: def.Reason, message: def.Message,
				source: mon.File.Source, at: s.Time.AsTime(), id: "cond:" + n.name + ":" + def.Type + ":reboot:" + s.BootId})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// applyChanges queues the health and threshold rules' changes and publishes them.
func (e *Engine) applyChanges(ctx context.Context, n *node, changes []healthrules.Change) error {
	for _, ch := range changes {
		st := "F"
		if ch.Status {
			st = "T"
		}
		id := "cond:" + n.name + ":" + ch.Condition + ":" + ch.Source + ":" + st + ":" + strconv.FormatInt(ch.Time.UnixNano(), 10)
		n.pending = append(n.pending, change{typ: ch.Condition, status: ch.Status, reason: ch.Reason, message: ch.Message,
			severity: severity(ch.Severity, nwv1.Severity_SEVERITY_WARNING), source: ch.Source, at: ch.Time, id: id})
	}
	return e.flush(ctx, n)
}

// flush publishes and records the queued changes in order. The rules' state has already moved
// on when a change is queued, so what is not yet recorded when one fails stays queued and goes
// first on the retry (which the rules then see as a duplicate input and ignore).
func (e *Engine) flush(ctx context.Context, n *node) error {
	for len(n.pending) > 0 {
		ch := n.pending[0]
		var err error
		if ch.event {
			err = e.publishEvent(ctx, n, ch)
		} else {
			err = e.setCondition(ctx, n, ch)
		}
		if err != nil {
			return err
		}
		n.pending = n.pending[1:]
	}
	n.pending = nil
	return nil
}

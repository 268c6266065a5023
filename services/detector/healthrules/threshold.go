package healthrules

import (
	"fmt"
	"path"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// threshSeries is one threshold rule's state for one mount point (or the node).
type threshSeries struct {
	firing        bool
	pending       bool // holding, waiting out `for`
	pendingSince  time.Time
	clearing      bool // firing but no longer holding, waiting out `clearFor`
	clearingSince time.Time
	gen           uint64 // the sample that last evaluated it
}

// touch is a rule evaluated by one report or sample; msg is set when a series of it fires.
type touch struct {
	cond string
	rule int
	msg  string
}

// Sample evaluates one node sample and returns the condition changes it causes: only
// transitions, never a repeat. Samples without a time, duplicates and samples older than one
// already seen are ignored. A new boot id restarts every pending `for` and `clearFor` timer (a
// condition keeps its status until the samples of the new boot decide it).
func (n *Node) Sample(s *nwv1.NodeSample) []Change {
	if s.GetTime() == nil {
		return nil
	}
	t, ok := n.samples.accept(startOf(s.GetCollectorStart()), s.GetSeq(), s.GetTime().AsTime())
	if !ok {
		return nil
	}
	if b := s.GetBootId(); b != "" {
		if n.bootID != "" && b != n.bootID {
			n.rebooted()
		}
		n.bootID = b
	}
	n.gen++
	gen := n.gen
	touched := n.touched[:0]
	for i := range n.cfg.ThresholdRules {
		rule := &n.cfg.ThresholdRules[i]
		restored := n.status[rule.Condition].restored
		tc := touch{cond: rule.Condition, rule: i}
		eval := func(key string, v float64, ok bool) {
			ser := n.thresh[i][key]
			if ser == nil {
				ser = &threshSeries{firing: restored}
				n.thresh[i][key] = ser
			} else if ser.gen == gen {
				return // a mount point listed twice: the first one counts
			}
			ser.gen = gen
			if held, fired := ser.observe(rule, v, ok, t); fired && tc.msg == "" {
				tc.msg = rule.firingMessage(key, v, held)
			}
		}
		if !rule.metric.perMount {
			v, ok := rule.metric.node(s)
			eval("", v, ok)
		} else {
			for _, fs := range s.GetFilesystems() {
				mp := fs.GetMountpoint()
				if rule.Mountpoint != "" {
					if m, _ := path.Match(rule.Mountpoint, mp); !m { // patterns are checked at load
						continue
					}
				}
				v, ok := rule.metric.fs(fs)
				eval(mp, v, ok)
			}
			// A mount point missing from this sample has no value: it stops holding.
			for key, ser := range n.thresh[i] {
				if ser.gen != gen {
					ser.gen = gen
					ser.observe(rule, 0, false, t)
					if !ser.firing && !ser.pending && !ser.clearing {
						delete(n.thresh[i], key)
					}
				}
			}
		}
		touched = append(touched, tc)
	}
	n.touched = touched
	return n.settleAll(SourceThreshold, t, touched)
}

// observe evaluates one value as Prometheus evaluates an alert with `for`: the expression must
// hold at every sample for For before the series fires; a firing series must stop holding
// (against ClearThreshold) at every sample for ClearFor before it clears. An absent value never
// holds. fired reports the step to firing, and held how long the expression had held then.
func (s *threshSeries) observe(r *ThresholdRule, v float64, ok bool, t time.Time) (held time.Duration, fired bool) {
	if !s.firing {
		s.clearing = false
		if !ok || !compare(v, r.Op, r.Threshold) {
			s.pending = false
			return 0, false
		}
		if !s.pending {
			s.pending, s.pendingSince = true, t
		}
		if held = t.Sub(s.pendingSince); held >= r.For {
			s.firing, s.pending = true, false
			return held, true
		}
		return 0, false
	}
	if ok && compare(v, r.Op, r.ClearThreshold) {
		s.clearing = false
		return 0, false
	}
	if !s.clearing {
		s.clearing, s.clearingSince = true, t
	}
	if t.Sub(s.clearingSince) >= r.ClearFor {
		s.firing, s.clearing = false, false
	}
	return 0, false
}

// rebooted restarts every threshold timer: what held before the reboot says nothing about the
// new boot.
func (n *Node) rebooted() {
	for _, series := range n.thresh {
		for _, s := range series {
			s.pending, s.clearing = false, false
		}
	}
}

// firingMessage is the rule's message and the value that set it: "Disk space is low:
// filesystem_used_ratio on /var is 93.2% (> 90.0%) for 5m".
func (r *ThresholdRule) firingMessage(mount string, v float64, held time.Duration) string {
	detail := r.Metric
	if mount != "" {
		detail += " on " + mount
	}
	detail += fmt.Sprintf(" is %s (%s %s)", r.metric.format(v), r.Op, r.metric.format(r.Threshold))
	if held >= time.Second {
		detail += " for " + shortDuration(held.Round(time.Second))
	}
	if r.Message == "" {
		return detail
	}
	return r.Message + ": " + detail
}

// settleAll settles every condition the touched rules set, once each, after all of them were
// evaluated: a condition set by several rules flips only on their combined state. A flip to True
// is told with the message of the rule that fired.
func (n *Node) settleAll(source string, t time.Time, touched []touch) []Change {
	var out []Change
	for k, tc := range touched {
		if seenBefore(touched[:k], tc.cond) {
			continue
		}
		pick := tc
		for _, o := range touched[k:] {
			if o.cond == tc.cond && o.msg != "" {
				pick = o
				break
			}
		}
		if ch, ok := n.settle(pick.cond, source, pick.rule, t, pick.msg); ok {
			out = append(out, ch)
		}
	}
	return out
}

func seenBefore(ts []touch, cond string) bool {
	for _, t := range ts {
		if t.cond == cond {
			return true
		}
	}
	return false
}

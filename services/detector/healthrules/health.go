package healthrules

import (
	"fmt"
	"path"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// healthSeries is one health rule's state for one component.
type healthSeries struct {
	firing       bool
	failures     int       // consecutive failed reports
	failingSince time.Time // time of the first of them
	successes    int       // consecutive healthy reports while firing
}

// Health evaluates one health report and returns the condition changes it causes: only
// transitions, never a repeat of the current status. Reports without a time or a component,
// duplicates and reports older than one already seen for the component are ignored.
func (n *Node) Health(r *nwv1.HealthReport) []Change {
	comp := r.GetComponent()
	if r.GetTime() == nil || comp == "" {
		return nil
	}
	o := n.comps[comp]
	if o == nil {
		o = &order{}
		n.comps[comp] = o
	}
	t, ok := o.accept(healthStart(r), r.GetSeq(), r.GetTime().AsTime())
	if !ok {
		return nil
	}
	rules := n.matching(comp)
	touched := n.touched[:0]
	for _, i := range rules {
		rule := &n.cfg.HealthRules[i]
		s := n.health[i][comp]
		if s == nil {
			s = &healthSeries{firing: n.status[rule.Condition].restored}
			n.health[i][comp] = s
		}
		s.observe(rule, r.GetHealthy(), t)
		tc := touch{cond: rule.Condition, rule: i}
		if s.firing && !n.status[rule.Condition].status { // the message is needed only for a flip
			tc.msg = rule.firingMessage(comp, s, r.GetMessage(), t)
		}
		touched = append(touched, tc)
	}
	n.touched = touched
	return n.settleAll(SourceHealth, t, touched)
}

// matching lists the health rules whose components match comp, cached per node.
func (n *Node) matching(comp string) []int {
	if m, ok := n.matches[comp]; ok {
		return m
	}
	var m []int
	for i := range n.cfg.HealthRules {
		for _, p := range n.cfg.HealthRules[i].Components {
			if ok, _ := path.Match(p, comp); ok { // patterns are checked at load
				m = append(m, i)
				break
			}
		}
	}
	n.matches[comp] = m
	return m
}

// observe counts one report: K consecutive failures, or a failure lasting D since the first of
// the run, fire; K' consecutive healthy reports clear. Any other report breaks a run.
func (s *healthSeries) observe(r *HealthRule, healthy bool, t time.Time) {
	if healthy {
		s.failures = 0
		if s.firing {
			if s.successes++; s.successes >= r.Successes {
				s.firing, s.successes = false, 0
			}
		}
		return
	}
	s.successes = 0
	if s.failures++; s.failures == 1 {
		s.failingSince = t
	}
	if !s.firing && (r.Failures > 0 && s.failures >= r.Failures ||
		r.FailingFor > 0 && t.Sub(s.failingSince) >= r.FailingFor) {
		s.firing = true
	}
}

// firingMessage is the rule's message, the component and its run of failures, and the failing
// check's own message: "kubelet health check is failing: kubelet failed 3 consecutive checks
// over 20s: Get ... connection refused".
func (r *HealthRule) firingMessage(comp string, s *healthSeries, reportMsg string, t time.Time) string {
	var detail string
	switch {
	case s.failures == 0:
		// Restored as True and not failed since: nothing new to say.
		detail = comp + " is failing"
	case s.failures == 1:
		detail = comp + " failed a check"
	default:
		d := t.Sub(s.failingSince)
		if d >= time.Second {
			d = d.Round(time.Second)
		}
		detail = fmt.Sprintf("%s failed %d consecutive checks over %s", comp, s.failures, shortDuration(d))
	}
	if reportMsg != "" {
		detail += ": " + reportMsg
	}
	if r.Message == "" {
		return detail
	}
	return r.Message + ": " + detail
}

// healthStart is the report's collector_start, zero when it has none. HealthReport does not
// carry the field yet, although its message id (servicekit/msgid) uses it; reading it through an
// interface picks it up as soon as the proto gains it, and until then order falls back to
// telling a collector restart by a lower sequence at a later time.
func healthStart(r *nwv1.HealthReport) time.Time {
	if s, ok := any(r).(interface {
		GetCollectorStart() *timestamppb.Timestamp
	}); ok {
		return startOf(s.GetCollectorStart())
	}
	return time.Time{}
}

package alerter

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/services/alerter/am"
	"github.com/nodewarden/nodewarden/services/alerter/kube"
)

// events handles the temporary problems of EVENTS: a short-lived alert for those at or above
// --event-severity, all of a batch in one PostAlerts call, and a Kubernetes Event for each.
// Condition changes are skipped here: the tracker follows their state.
type events struct {
	b      builder
	client *am.Client
	kube   *kube.Exporter
	min    int
	m      *metrics
	now    func() time.Time
}

func (e *events) handle(ctx context.Context, ms []*consume.Message) []error {
	errs := make([]error, len(ms))
	var (
		alerts models.PostableAlerts
		posted []int
	)
	now := e.now()
	for i, m := range ms {
		p, ok := m.Payload.(*nwv1.Problem)
		if !ok {
			errs[i] = consume.Permanent(fmt.Errorf("subject %s carries %T, not a Problem", m.Subject, m.Payload))
			continue
		}
		if p.GetKind() != nwv1.ProblemKind_PROBLEM_KIND_EVENT {
			continue
		}
		// A time no clock shows (past year 9999, before year 1) cannot be posted: Alertmanager
		// rejects the whole request, so the problem would be retried forever.
		if err := p.GetTime().CheckValid(); p.GetTime() != nil && err != nil {
			errs[i] = consume.Permanent(fmt.Errorf("problem %s on %s: time: %w", p.GetId(), m.Subject, err))
			continue
		}
		if e.kube != nil {
			at := now
			if p.GetTime() != nil {
				at = p.GetTime().AsTime()
			}
			if err := e.kube.Event(ctx, kube.Event{Node: p.GetNode(), Reason: p.GetReason(), Message: p.GetMessage(),
				Source: p.GetSource(), Severity: severityName(p.GetSeverity()), Time: at}); err != nil {
				errs[i] = err
				continue
			}
		}
		if e.client != nil && severityRank[severityOr(severityName(p.GetSeverity()))] >= e.min {
			alerts = append(alerts, e.b.event(p, now))
			posted = append(posted, i)
		}
	}
	if len(alerts) == 0 {
		return errs
	}
	began := time.Now()
	failed, err := e.client.Post(ctx, alerts)
	e.m.postDuration.Observe(time.Since(began).Seconds())
	for _, u := range failed {
		e.m.postErrors.WithLabelValues(u).Inc()
	}
	if err != nil {
		for _, i := range posted {
			errs[i] = err
		}
		return errs
	}
	e.m.posted.WithLabelValues("event").Add(float64(len(alerts)))
	return errs
}

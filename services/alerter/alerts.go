package alerter

import (
	"maps"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
)

// Label names of nodewarden's alerts. alertname is the condition type and node the raw node
// name: the rebooter recognises the alert raised for the condition that asked for a reboot by
// these two, so it never blocks its own reboot.
const (
	LabelAlertName = "alertname"
	LabelNode      = "node"
	LabelSeverity  = "severity"
	LabelSource    = "source"
	LabelReason    = "reason"
	LabelKind      = "kind"
)

// builder turns conditions and problems into Alertmanager alerts.
type builder struct {
	extra        map[string]string
	generatorURL string // with {node} and {alertname} replaced
	resend       time.Duration
	eventTTL     time.Duration
}

// labels of a condition's alert; an alert's identity in Alertmanager is its label set.
func (b builder) conditionLabels(st conditions.State) models.LabelSet {
	ls := models.LabelSet{}
	maps.Copy(ls, b.extra)
	ls[LabelAlertName] = st.Type
	ls[LabelNode] = st.Node
	ls[LabelSeverity] = severityOr(st.Severity)
	ls[LabelReason] = st.Reason
	if st.Source != "" {
		ls[LabelSource] = st.Source
	}
	return ls
}

// condition is the alert for st at now: firing while True, with endsAt 4 resend intervals
// ahead (Prometheus' contract: Alertmanager resolves it by itself only if the alerter is gone
// for good); resolved (endsAt = when it went False) otherwise.
func (b builder) condition(st conditions.State, now time.Time) *models.PostableAlert {
	ls := b.conditionLabels(st)
	a := &models.PostableAlert{
		Alert: models.Alert{Labels: ls, GeneratorURL: strfmt.URI(b.generator(st.Node, st.Type))},
		Annotations: models.LabelSet{
			"summary":     st.Type + " on " + st.Node + ": " + st.Reason,
			"description": st.Message,
		},
		StartsAt: strfmt.DateTime(st.Since),
	}
	if st.Status == conditions.True {
		a.EndsAt = strfmt.DateTime(now.Add(4 * b.resend))
	} else {
		a.EndsAt = strfmt.DateTime(st.Since) // when it went False: resolved
		a.Annotations["summary"] = st.Type + " on " + st.Node + " resolved: " + st.Reason
	}
	return a
}

// resolved is the alert with labels ls resolved at now (a reason that changed, a key deleted).
func (b builder) resolved(ls models.LabelSet, now time.Time) *models.PostableAlert {
	return &models.PostableAlert{Alert: models.Alert{Labels: ls}, StartsAt: strfmt.DateTime(now), EndsAt: strfmt.DateTime(now)}
}

// event is the short-lived alert of a temporary problem: alertname is its reason.
func (b builder) event(p *nwv1.Problem, now time.Time) *models.PostableAlert {
	ls := models.LabelSet{}
	maps.Copy(ls, b.extra)
	ls[LabelAlertName] = p.GetReason()
	ls[LabelNode] = p.GetNode()
	ls[LabelSeverity] = severityOr(severityName(p.GetSeverity()))
	ls[LabelKind] = "event"
	if p.GetSource() != "" {
		ls[LabelSource] = p.GetSource()
	}
	ann := models.LabelSet{"summary": p.GetReason() + " on " + p.GetNode(), "description": p.GetMessage()}
	if p.GetPod() != "" {
		ann["pod"] = p.GetNamespace() + "/" + p.GetPod()
	}
	start := now
	if p.GetTime() != nil {
		start = p.GetTime().AsTime()
	}
	return &models.PostableAlert{
		Alert:       models.Alert{Labels: ls, GeneratorURL: strfmt.URI(b.generator(p.GetNode(), p.GetReason()))},
		Annotations: ann,
		StartsAt:    strfmt.DateTime(start),
		EndsAt:      strfmt.DateTime(start.Add(b.eventTTL)),
	}
}

func (b builder) generator(node, name string) string {
	if b.generatorURL == "" {
		return ""
	}
	return strings.NewReplacer("{node}", node, "{alertname}", name).Replace(b.generatorURL)
}

func severityOr(s string) string {
	if s == "" {
		return "warning"
	}
	return s
}

// severityName is the severity's word: info, warning, critical ("" when unspecified).
func severityName(s nwv1.Severity) string {
	if s == nwv1.Severity_SEVERITY_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEVERITY_"))
}

// sameLabels reports whether two label sets are equal.
func sameLabels(a, b models.LabelSet) bool { return maps.Equal(a, b) }

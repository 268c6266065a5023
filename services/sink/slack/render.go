package slack

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"

	goslack "github.com/slack-go/slack"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Template names a --slack-templates file may redefine.
const (
	TemplateProblem   = "problem"   // a temporary event (ProblemData)
	TemplateCondition = "condition" // a condition change, True or back to False (ProblemData)
	TemplateReboot    = "reboot"    // a reboot phase change (RebootData)
	TemplateBurst     = "burst"     // the summary of a folded burst (BurstData)
)

const builtins = `
{{- define "problem"}}[{{.Severity}}] {{.Reason}} on {{.Node}}{{with .Message}}: {{.}}{{end}}{{end}}
{{- define "condition"}}[{{.Severity}}] {{.Type}} is {{.Status}} on {{.Node}} ({{.Reason}}){{with .Message}}: {{.}}{{end}}{{end}}
{{- define "reboot"}}{{if .Kured}}{{.Kured}}{{else}}Reboot of {{.Node}}: {{.Phase}}{{with .Detail}} ({{.}}){{end}}{{end}}{{end}}
{{- define "burst"}}{{.Count}} more {{if eq .Count 1}}message{{else}}messages{{end}} on {{.NodeCount}} {{if eq .NodeCount 1}}node{{else}}nodes{{end}} in {{.Window}}: {{range $i, $e := .Items}}{{if $i}}, {{end}}{{$e.Node}} {{$e.Reason}}{{if gt $e.Count 1}} ×{{$e.Count}}{{end}}{{end}}{{if .Omitted}}, and {{.Omitted}} more{{end}}{{end}}`

func builtinTemplates() (*template.Template, error) { return template.New("slack").Parse(builtins) }

// ProblemData is what the problem and condition templates see.
type ProblemData struct {
	Node, ID, Source string
	Kind             string // "event" or "condition"
	Type, Status     string // condition type and "True"/"False"/"Unknown"; empty for events
	Reason, Message  string
	Severity         string // info, warning, critical
	Time             time.Time
	Namespace, Pod   string // the OOM victim's, if known
	Container        string
}

// RebootData is what the reboot template sees.
type RebootData struct {
	Node, RequestID string
	Phase           string // requested, blocked, locked, draining, rebooting, completed, failed
	Detail          string // why blocked or failed, or what it does
	Downtime        string // for completed, from the rebooter's "down <duration>"
	Time            time.Time
	// Kured is kured's message for draining, rebooting and completed (--message-template-*
	// with the node), empty for other phases.
	Kured string
}

// BurstData is what the burst template sees.
type BurstData struct {
	Count     int // folded messages
	NodeCount int
	Window    time.Duration
	Items     []BurstItem // the most frequent node/reason pairs, at most maxBurstItems
	Omitted   int         // pairs not listed
}

// BurstItem is one node/reason pair of a burst and how often it occurred.
type BurstItem struct {
	Node, Reason string
	Count        int
}

const maxBurstItems = 10

func sampleData() map[string]any {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return map[string]any{
		TemplateProblem: ProblemData{Node: "node-1", Kind: "event", Reason: "OOMKilling", Message: "Killed process 1", Severity: "warning", Time: at},
		TemplateCondition: ProblemData{Node: "node-1", Kind: "condition", Type: "KernelDeadlock", Status: "True",
			Reason: "DockerHung", Severity: "critical", Time: at},
		TemplateReboot: RebootData{Node: "node-1", RequestID: "r1", Phase: "completed", Detail: "down 1m", Downtime: "1m", Time: at},
		TemplateBurst:  BurstData{Count: 3, NodeCount: 1, Window: time.Minute, Items: []BurstItem{{"node-1", "OOMKilling", 3}}},
	}
}

func render(t *template.Template, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("template %q: %w", name, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// Message is one post: the text fallback (from a template) and its Block Kit blocks.
type Message struct {
	Text   string
	Blocks []goslack.Block
}

func problemData(p *nwv1.Problem) ProblemData {
	d := ProblemData{Node: p.GetNode(), ID: p.GetId(), Source: p.GetSource(), Kind: "event", Reason: p.GetReason(),
		Message: p.GetMessage(), Severity: severityName(effectiveSeverity(p.GetSeverity())), Time: p.GetTime().AsTime(),
		Namespace: p.GetNamespace(), Pod: p.GetPod(), Container: p.GetContainer()}
	if p.GetKind() == nwv1.ProblemKind_PROBLEM_KIND_CONDITION {
		d.Kind, d.Type, d.Status = "condition", p.GetType(), statusName(p.GetStatus())
	}
	return d
}

func statusName(s nwv1.ConditionStatus) string {
	switch s {
	case nwv1.ConditionStatus_CONDITION_STATUS_TRUE:
		return "True"
	case nwv1.ConditionStatus_CONDITION_STATUS_FALSE:
		return "False"
	}
	return "Unknown"
}

// problemMessage renders a problem: a header, the template's text, and fields.
func problemMessage(t *template.Template, d ProblemData) (Message, error) {
	name, title := TemplateProblem, severityEmoji(d.Severity)+" "+d.Reason
	if d.Kind == "condition" {
		name = TemplateCondition
		title = severityEmoji(d.Severity) + " " + d.Type + " is " + d.Status
		if d.Status == "False" {
			title = ":white_check_mark: " + d.Type + " is False"
		}
	}
	text, err := render(t, name, d)
	if err != nil {
		return Message{}, err
	}
	fields := []*goslack.TextBlockObject{field("Node", d.Node), field("Reason", d.Reason), field("Severity", d.Severity), timeField(d.Time)}
	if d.Kind == "condition" {
		fields = append(fields, field("Condition", d.Type+"="+d.Status))
	}
	if d.Pod != "" {
		fields = append(fields, field("Pod", d.Namespace+"/"+d.Pod+" "+d.Container))
	}
	blocks := []goslack.Block{header(title), section(text, fields)}
	if d.Message != "" {
		blocks = append(blocks, section("*Message*\n"+escape(d.Message), nil))
	}
	blocks = append(blocks, contextBlock(d.Source, d.ID))
	return Message{Text: text, Blocks: blocks}, nil
}

var downRe = regexp.MustCompile(`\bdown ([0-9][0-9a-zµ.]*)`)

// rebootMessage renders a reboot status; kured is the --message-template-* text or "".
func rebootMessage(t *template.Template, s *nwv1.RebootStatus, kured string) (Message, error) {
	d := RebootData{Node: s.GetNode(), RequestID: s.GetRequestId(), Phase: phaseName(s.GetPhase()), Detail: s.GetDetail(),
		Time: s.GetTime().AsTime(), Kured: kured}
	if m := downRe.FindStringSubmatch(d.Detail); m != nil && s.GetPhase() == nwv1.RebootPhase_REBOOT_PHASE_COMPLETED {
		d.Downtime = m[1]
	}
	text, err := render(t, TemplateReboot, d)
	if err != nil {
		return Message{}, err
	}
	fields := []*goslack.TextBlockObject{field("Node", d.Node), field("Phase", d.Phase), field("Request", d.RequestID), timeField(d.Time)}
	if d.Downtime != "" {
		fields = append(fields, field("Downtime", d.Downtime))
	}
	blocks := []goslack.Block{header(phaseEmoji(s.GetPhase()) + " Reboot " + d.Phase + ": " + d.Node), section(text, fields)}
	if d.Detail != "" {
		label := "Detail"
		if s.GetPhase() == nwv1.RebootPhase_REBOOT_PHASE_BLOCKED || s.GetPhase() == nwv1.RebootPhase_REBOOT_PHASE_FAILED {
			label = "Reason"
		}
		blocks = append(blocks, section("*"+label+"*\n"+escape(d.Detail), nil))
	}
	return Message{Text: text, Blocks: blocks}, nil
}

func burstMessage(t *template.Template, d BurstData) (Message, error) {
	text, err := render(t, TemplateBurst, d)
	if err != nil {
		return Message{}, err
	}
	var lines []string
	for _, it := range d.Items {
		l := "• *" + escape(it.Node) + "*: " + escape(it.Reason)
		if it.Count > 1 {
			l += fmt.Sprintf(" ×%d", it.Count)
		}
		lines = append(lines, l)
	}
	if d.Omitted > 0 {
		lines = append(lines, fmt.Sprintf("… and %d more", d.Omitted))
	}
	blocks := []goslack.Block{header(fmt.Sprintf(":rotating_light: %d more messages on %d nodes", d.Count, d.NodeCount)), section(text, nil)}
	if len(lines) > 0 {
		blocks = append(blocks, section(strings.Join(lines, "\n"), nil))
	}
	return Message{Text: text, Blocks: blocks}, nil
}

// Slack's limits: 150 characters of header, 3000 of section text, 2000 of a field.
func header(s string) goslack.Block {
	return goslack.NewHeaderBlock(goslack.NewTextBlockObject(goslack.PlainTextType, clip(s, 150), true, false))
}

func section(text string, fields []*goslack.TextBlockObject) goslack.Block {
	var t *goslack.TextBlockObject
	if text != "" {
		t = goslack.NewTextBlockObject(goslack.MarkdownType, clip(escapeTemplate(text), 3000), false, false)
	}
	return goslack.NewSectionBlock(t, fields, nil)
}

func field(name, value string) *goslack.TextBlockObject {
	if value == "" {
		value = "-"
	}
	return goslack.NewTextBlockObject(goslack.MarkdownType, clip("*"+name+"*\n"+escape(value), 2000), false, false)
}

// timeField shows the time in the reader's zone, with RFC 3339 UTC as the fallback.
func timeField(at time.Time) *goslack.TextBlockObject {
	v := fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", at.Unix(), at.UTC().Format(time.RFC3339))
	return goslack.NewTextBlockObject(goslack.MarkdownType, "*Time*\n"+v, false, false)
}

func contextBlock(source, id string) goslack.Block {
	var parts []string
	if source != "" {
		parts = append(parts, "source "+source)
	}
	if id != "" {
		parts = append(parts, "id "+id)
	}
	if len(parts) == 0 {
		parts = []string{"nodewarden"}
	}
	return goslack.NewContextBlock("", goslack.NewTextBlockObject(goslack.MarkdownType, escape(strings.Join(parts, " · ")), false, false))
}

// escape makes a value literal in mrkdwn (Slack's three control characters).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// escapeTemplate escapes template output, which holds the same kind of values; already
// escaped entities are left alone.
func escapeTemplate(s string) string { return escape(unescape(s)) }

func unescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func severityEmoji(s string) string {
	switch s {
	case "critical":
		return ":red_circle:"
	case "info":
		return ":information_source:"
	}
	return ":warning:"
}

func phaseEmoji(p nwv1.RebootPhase) string {
	switch p {
	case nwv1.RebootPhase_REBOOT_PHASE_COMPLETED:
		return ":white_check_mark:"
	case nwv1.RebootPhase_REBOOT_PHASE_FAILED:
		return ":x:"
	case nwv1.RebootPhase_REBOOT_PHASE_BLOCKED:
		return ":no_entry:"
	}
	return ":arrows_counterclockwise:"
}

func phaseName(p nwv1.RebootPhase) string {
	switch p {
	case nwv1.RebootPhase_REBOOT_PHASE_REQUESTED:
		return "requested"
	case nwv1.RebootPhase_REBOOT_PHASE_BLOCKED:
		return "blocked"
	case nwv1.RebootPhase_REBOOT_PHASE_LOCKED:
		return "locked"
	case nwv1.RebootPhase_REBOOT_PHASE_DRAINING:
		return "draining"
	case nwv1.RebootPhase_REBOOT_PHASE_REBOOTING:
		return "rebooting"
	case nwv1.RebootPhase_REBOOT_PHASE_COMPLETED:
		return "completed"
	case nwv1.RebootPhase_REBOOT_PHASE_FAILED:
		return "failed"
	}
	return "unknown"
}

// parseSeverity reads --slack-min-severity: the detector's three levels.
func parseSeverity(s string) (nwv1.Severity, error) {
	switch strings.ToLower(s) {
	case "info":
		return nwv1.Severity_SEVERITY_INFO, nil
	case "warning":
		return nwv1.Severity_SEVERITY_WARNING, nil
	case "critical":
		return nwv1.Severity_SEVERITY_CRITICAL, nil
	}
	return 0, fmt.Errorf("want info, warning or critical")
}

// effectiveSeverity treats an unset severity as warning, the detector's default.
func effectiveSeverity(s nwv1.Severity) nwv1.Severity {
	if s == nwv1.Severity_SEVERITY_UNSPECIFIED {
		return nwv1.Severity_SEVERITY_WARNING
	}
	return s
}

func severityName(s nwv1.Severity) string {
	switch s {
	case nwv1.Severity_SEVERITY_INFO:
		return "info"
	case nwv1.Severity_SEVERITY_CRITICAL:
		return "critical"
	}
	return "warning"
}

package slack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/sink/slack"
	"github.com/nodewarden/nodewarden/services/sink/slack/slackfake"
)

const (
	warning  = nwv1.Severity_SEVERITY_WARNING
	info     = nwv1.Severity_SEVERITY_INFO
	critical = nwv1.Severity_SEVERITY_CRITICAL
)

// want is what one posted message must show.
type want struct {
	header string            // substring of the header
	text   string            // the text fallback, exactly
	fields map[string]string // section fields, exactly
	detail string            // substring of a section
}

func check(t *testing.T, i int, got slackfake.Message, w want) {
	t.Helper()
	if !strings.Contains(got.Header(), w.header) {
		t.Errorf("message %d: header %q, want it to contain %q", i, got.Header(), w.header)
	}
	if got.Text != w.text {
		t.Errorf("message %d: text %q, want %q", i, got.Text, w.text)
	}
	fields := got.Fields()
	for k, v := range w.fields {
		if fields[k] != v {
			t.Errorf("message %d: field %s = %q, want %q (fields %v)", i, k, fields[k], v, fields)
		}
	}
	if !strings.Contains(fields["Time"], "2026-11-26T10:") {
		t.Errorf("message %d: time field %q", i, fields["Time"])
	}
	if w.detail != "" && !strings.Contains(strings.Join(got.Sections(), "\n"), w.detail) {
		t.Errorf("message %d: sections %q lack %q", i, got.Sections(), w.detail)
	}
}

func TestProblemAndRebootSequence(t *testing.T) {
	for _, kind := range []string{"webhook", "api"} {
		t.Run(kind, func(t *testing.T) {
			e := setup(t, via(kind), func(o *slack.Options, _ *slackfake.Server) { o.Username = "nodewarden" })
			e.run(t)
			node := "ip-10-0-0-1.ec2.internal"
			e.event(t, node, "p1", "OOMKilling", warning)
			e.condition(t, node, "p2", "KernelDeadlock", "DockerHung", nwv1.ConditionStatus_CONDITION_STATUS_TRUE)
			e.condition(t, node, "p3", "KernelDeadlock", "DockerRecovered", nwv1.ConditionStatus_CONDITION_STATUS_FALSE)
			phases := []struct {
				p      nwv1.RebootPhase
				detail string
			}{
				{nwv1.RebootPhase_REBOOT_PHASE_REQUESTED, "sentinel present"},
				{nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, "alert HighLoad firing"},
				{nwv1.RebootPhase_REBOOT_PHASE_LOCKED, ""},
				{nwv1.RebootPhase_REBOOT_PHASE_DRAINING, ""},
				{nwv1.RebootPhase_REBOOT_PHASE_REBOOTING, "rebooting (command)"},
				{nwv1.RebootPhase_REBOOT_PHASE_COMPLETED, "uncordoned; down 1m2.5s"},
				{nwv1.RebootPhase_REBOOT_PHASE_FAILED, "drain timed out"},
			}
			for i, p := range phases {
				e.reboot(t, node, uint64(i+1), p.p, p.detail)
			}
			got := e.waitMessages(t, 10, 10*time.Second)
			wants := []want{
				{header: "OOMKilling", text: "[warning] OOMKilling on " + node + ": Killed process 4242 (java) <total-vm>",
					fields: map[string]string{"Node": node, "Reason": "OOMKilling", "Severity": "warning"},
					detail: "Killed process 4242 (java) &lt;total-vm&gt;"},
				{header: "KernelDeadlock is True", text: "[critical] KernelDeadlock is True on " + node + " (DockerHung)",
					fields: map[string]string{"Node": node, "Reason": "DockerHung", "Condition": "KernelDeadlock=True"}},
				{header: "KernelDeadlock is False", text: "[critical] KernelDeadlock is False on " + node + " (DockerRecovered)",
					fields: map[string]string{"Reason": "DockerRecovered", "Condition": "KernelDeadlock=False"}},
				{header: "Reboot requested", text: "Reboot of " + node + ": requested (sentinel present)",
					fields: map[string]string{"Node": node, "Phase": "requested", "Request": "req-1"}},
				{header: "Reboot blocked", text: "Reboot of " + node + ": blocked (alert HighLoad firing)",
					fields: map[string]string{"Phase": "blocked"}, detail: "*Reason*\nalert HighLoad firing"},
				{header: "Reboot locked", text: "Reboot of " + node + ": locked", fields: map[string]string{"Phase": "locked"}},
				{header: "Reboot draining", text: "Draining node " + node, fields: map[string]string{"Phase": "draining"}},
				{header: "Reboot rebooting", text: "Rebooting node " + node, fields: map[string]string{"Phase": "rebooting"}},
				{header: "Reboot completed", text: "Node " + node + " rebooted & uncordoned successfully!",
					fields: map[string]string{"Phase": "completed", "Downtime": "1m2.5s"}},
				{header: "Reboot failed", text: "Reboot of " + node + ": failed (drain timed out)",
					fields: map[string]string{"Phase": "failed"}, detail: "*Reason*\ndrain timed out"},
			}
			for i, w := range wants {
				check(t, i, got[i], w)
				if got[i].Via != kind || got[i].Username != "nodewarden" {
					t.Errorf("message %d: via %s as %q", i, got[i].Via, got[i].Username)
				}
				if kind == "api" && got[i].Channel != "C0123" {
					t.Errorf("message %d: channel %q", i, got[i].Channel)
				}
			}
			e.waitSettled(t, 5*time.Second)
			if n := len(e.fake.Messages()); n != len(wants) {
				t.Errorf("%d messages, want %d", n, len(wants))
			}
		})
	}
}

func TestMinSeverity(t *testing.T) {
	for _, tc := range []struct {
		min  string
		want []string // reasons posted, in order
	}{
		{"info", []string{"I", "W", "C", "U"}},
		{"warning", []string{"W", "C", "U"}}, // unset severity counts as warning, the detector's default
		{"critical", []string{"C"}},
	} {
		t.Run(tc.min, func(t *testing.T) {
			e := setup(t, via("webhook"), func(o *slack.Options, _ *slackfake.Server) { o.MinSeverity = tc.min })
			e.run(t)
			e.event(t, "n1", "i", "I", info)
			e.event(t, "n1", "w", "W", warning)
			e.event(t, "n1", "c", "C", critical)
			e.event(t, "n1", "u", "U", nwv1.Severity_SEVERITY_UNSPECIFIED)
			e.waitSettled(t, 10*time.Second)
			var got []string
			for _, m := range e.fake.Messages() {
				got = append(got, m.Fields()["Reason"])
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("posted %v, want %v", got, tc.want)
			}
			if s := e.metric(t, "nodewarden_sink_slack_skipped_total"); int(s) != 4-len(tc.want) {
				t.Errorf("skipped %v, want %d", s, 4-len(tc.want))
			}
		})
	}
}

func TestRateLimitRetried(t *testing.T) {
	for _, kind := range []string{"webhook", "api"} {
		t.Run(kind, func(t *testing.T) {
			e := setup(t, via(kind))
			e.fake.RateLimit(1, time.Second)
			e.run(t)
			start := time.Now()
			e.event(t, "n1", "p1", "OOMKilling", warning)
			got := e.waitMessages(t, 1, 10*time.Second)
			if d := got[0].At.Sub(start); d < time.Second {
				t.Errorf("posted %s after publishing, before Retry-After passed", d)
			}
			e.waitSettled(t, 5*time.Second)
			if n, r := len(e.fake.Messages()), e.fake.Requests(); n != 1 || r != 2 {
				t.Errorf("%d messages after %d requests, want 1 after 2", n, r)
			}
			if v := e.metric(t, "nodewarden_sink_slack_errors_total"); v != 1 {
				t.Errorf("errors_total %v, want 1 (the 429)", v)
			}
		})
	}
}

func TestServerErrorRetriedInOrder(t *testing.T) {
	e := setup(t, via("webhook"))
	e.fake.Fail(3, 500, "internal_error")
	e.run(t)
	for i := range 3 {
		e.event(t, "n1", fmt.Sprintf("p%d", i), fmt.Sprintf("R%d", i), warning)
	}
	got := e.waitMessages(t, 3, 10*time.Second)
	e.waitSettled(t, 5*time.Second)
	for i, m := range got {
		if r := m.Fields()["Reason"]; r != fmt.Sprintf("R%d", i) {
			t.Errorf("message %d: reason %s", i, r)
		}
	}
	if n := len(e.fake.Messages()); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
}

// TestRedeliveryPostsNothingTwice replays the whole stream to a new consumer of a restarted
// output: every id is in NW_SLACK_SENT, so nothing is posted again.
func TestRedeliveryPostsNothingTwice(t *testing.T) {
	e := setup(t, via("webhook"), func(o *slack.Options, f *slackfake.Server) { o.NotifyURL = f.NotifyURL() })
	stop := e.run(t)
	e.event(t, "n1", "p1", "OOMKilling", warning)
	e.reboot(t, "n1", 1, nwv1.RebootPhase_REBOOT_PHASE_DRAINING, "")
	e.reboot(t, "n1", 2, nwv1.RebootPhase_REBOOT_PHASE_REBOOTING, "")
	e.waitMessages(t, 5, 10*time.Second) // 3 Slack + 2 notify
	e.waitSettled(t, 5*time.Second)
	stop()
	if err := e.js.DeleteConsumer(context.Background(), topology.StreamEvents, slack.Durable); err != nil {
		t.Fatal(err)
	}
	e.newOutput(t)
	e.run(t)
	e.event(t, "n1", "p2", "TaskHung", warning) // a new one still goes out
	e.waitMessages(t, 6, 10*time.Second)
	e.waitSettled(t, 5*time.Second)
	if n := len(e.fake.Messages()); n != 6 {
		t.Errorf("%d messages after the replay, want 6", n)
	}
	if d := e.metric(t, "nodewarden_sink_slack_duplicates_total"); d != 3 {
		t.Errorf("duplicates %v, want 3", d)
	}
}

func TestBurstFolded(t *testing.T) {
	e := setup(t, via("api"), func(o *slack.Options, _ *slackfake.Server) {
		o.Burst, o.BurstWindow = 5, 2*time.Second
	})
	e.run(t)
	for i := range 50 {
		e.event(t, fmt.Sprintf("node-%d", i%7), fmt.Sprintf("p%d", i), []string{"OOMKilling", "TaskHung"}[i%2], warning)
	}
	got := e.waitMessages(t, 6, 15*time.Second)
	e.waitSettled(t, 5*time.Second)
	if n := len(e.fake.Messages()); n != 6 {
		t.Fatalf("%d messages, want 5 + 1 summary", n)
	}
	for i := range 5 {
		if r := got[i].Fields()["Reason"]; r == "" {
			t.Errorf("message %d is not a single problem: %q", i, got[i].Text)
		}
	}
	sum := got[5]
	// 14 node/reason pairs: 10 listed, 4 left out.
	if !strings.HasPrefix(sum.Text, "45 more messages on 7 nodes in 2s: ") || !strings.HasSuffix(sum.Text, ", and 4 more") ||
		!strings.Contains(sum.Header(), "45 more") {
		t.Errorf("summary %q / %q", sum.Header(), sum.Text)
	}
	if sum.At.Sub(got[0].At) < 1900*time.Millisecond {
		t.Errorf("summary %s after the first post, before the window ended", sum.At.Sub(got[0].At))
	}
	keys, err := e.kv.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keys.Keys() {
		n++
	}
	if n != 50 {
		t.Errorf("%d ids recorded, want 50", n)
	}
	if f := e.metric(t, "nodewarden_sink_slack_folded_total"); f != 45 {
		t.Errorf("folded %v, want 45", f)
	}
}

// TestBurstInterrupted stops the output while folded messages wait for their summary: they are
// redelivered, and none of the messages posted one by one is posted again.
func TestBurstInterrupted(t *testing.T) {
	e := setup(t, via("webhook"), func(o *slack.Options, _ *slackfake.Server) {
		o.Burst, o.BurstWindow = 3, time.Hour
	})
	stop := e.run(t)
	for i := range 10 {
		e.event(t, "n1", fmt.Sprintf("p%d", i), fmt.Sprintf("R%d", i), warning)
	}
	e.waitMessages(t, 3, 10*time.Second)
	stop() // the 7 folded are nak'ed
	e.opts.BurstWindow = 500 * time.Millisecond
	e.newOutput(t)
	e.run(t)
	got := e.waitMessages(t, 7, 10*time.Second) // 3 + 3 more one by one + 1 summary of 4
	e.waitSettled(t, 5*time.Second)
	seen := map[string]bool{}
	for i, m := range got {
		r := m.Fields()["Reason"]
		if r == "" {
			continue
		}
		if seen[r] {
			t.Errorf("message %d: %s posted twice", i, r)
		}
		seen[r] = true
	}
	if len(got) != 7 || len(seen) != 6 || !strings.HasPrefix(got[6].Text, "4 more messages") {
		t.Errorf("%d messages (%d single), last %q", len(got), len(seen), got[len(got)-1].Text)
	}
}

func TestTemplateOverride(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slack.tmpl")
	tmpl := `{{define "problem"}}{{.Node}} says {{.Reason}} at {{.Time.Format "15:04:05"}}{{end}}
{{define "reboot"}}{{.Node}} is {{.Phase}}{{with .Kured}} / {{.}}{{end}}{{end}}`
	if err := os.WriteFile(file, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	e := setup(t, via("webhook"), func(o *slack.Options, _ *slackfake.Server) {
		o.Templates = file
		o.MessageDrain = "Draining %s (kured)"
	})
	e.run(t)
	e.event(t, "n1", "p1", "OOMKilling", warning)
	e.condition(t, "n1", "p2", "KernelDeadlock", "DockerHung", nwv1.ConditionStatus_CONDITION_STATUS_TRUE)
	e.reboot(t, "n1", 1, nwv1.RebootPhase_REBOOT_PHASE_DRAINING, "")
	got := e.waitMessages(t, 3, 10*time.Second)
	for i, w := range []string{
		"n1 says OOMKilling at 10:00:00",
		"[critical] KernelDeadlock is True on n1 (DockerHung)", // not overridden: the built-in
		"n1 is draining / Draining n1 (kured)",
	} {
		if got[i].Text != w {
			t.Errorf("message %d: %q, want %q", i, got[i].Text, w)
		}
		if !strings.Contains(strings.Join(got[i].Sections(), "\n"), w) {
			t.Errorf("message %d: the blocks do not show the template's text: %q", i, got[i].Sections())
		}
	}
}

// TestKuredNotify checks kured's --notify-url and --message-template-* through shoutrrr's
// generic webhook, alongside the Slack webhook.
func TestKuredNotify(t *testing.T) {
	e := setup(t, via("webhook"), func(o *slack.Options, f *slackfake.Server) {
		o.NotifyURL = f.NotifyURL()
		o.MessageReboot = "Rebooting %s now (100%%)"
	})
	e.run(t)
	for i, p := range []nwv1.RebootPhase{nwv1.RebootPhase_REBOOT_PHASE_LOCKED, nwv1.RebootPhase_REBOOT_PHASE_DRAINING,
		nwv1.RebootPhase_REBOOT_PHASE_REBOOTING, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED} {
		e.reboot(t, "n1", uint64(i+1), p, "")
	}
	e.waitMessages(t, 7, 10*time.Second)
	e.waitSettled(t, 5*time.Second)
	var notified, slackTexts []string
	for _, m := range e.fake.Messages() {
		if m.Via == "notify" {
			notified = append(notified, m.Text)
		} else {
			slackTexts = append(slackTexts, m.Text)
		}
	}
	wantNotify := []string{"Draining node n1", "Rebooting n1 now (100%)", "Node n1 rebooted & uncordoned successfully!"}
	if strings.Join(notified, "|") != strings.Join(wantNotify, "|") {
		t.Errorf("notified %q, want %q", notified, wantNotify)
	}
	if len(slackTexts) != 4 || slackTexts[2] != "Rebooting n1 now (100%)" {
		t.Errorf("slack got %q", slackTexts)
	}
}

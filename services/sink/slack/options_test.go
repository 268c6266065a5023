package slack_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/services/sink/slack"
)

func TestOptionsFlags(t *testing.T) {
	var o slack.Options
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--slack-webhook-url=https://hooks.slack.com/services/T/B/X",
		"--slack-burst=3", "--slack-burst-window=30s", "--slack-min-severity=critical",
		"--message-template-drain=Draining %s please"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Burst != 3 || o.BurstWindow != 30*time.Second || o.MinSeverity != "critical" ||
		o.MessageReboot != slack.DefaultMessageReboot || o.MessageDrain != "Draining %s please" || !o.Enabled() {
		t.Errorf("parsed %+v", o)
	}
	if strings.Contains(o.String(), "/B/X") {
		t.Errorf("String() shows the webhook's secret: %s", o)
	}
}

func TestOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.tmpl", `{{define "burst"}}{{.Count}} more{{end}}`)
	unparsable := write("bad.tmpl", `{{define "problem"}}{{.Node}{{end}}`)
	badField := write("field.tmpl", `{{define "reboot"}}{{.Nope}}{{end}}`)
	hook := "https://hooks.slack.com/services/T/B/X"
	for _, tc := range []struct {
		name     string
		edit     func(*slack.Options)
		wantFlag string // "" = valid
	}{
		{"off is valid", func(*slack.Options) {}, ""},
		{"webhook", func(o *slack.Options) { o.WebhookURL = hook }, ""},
		{"token and channel", func(o *slack.Options) { o.Token, o.Channel = "xoxb-1", "#ops" }, ""},
		{"good templates", func(o *slack.Options) { o.WebhookURL, o.Templates = hook, good }, ""},
		{"notify only", func(o *slack.Options) { o.NotifyURL = "generic://127.0.0.1:9/x?disabletls=yes" }, ""},
		{"webhook not http", func(o *slack.Options) { o.WebhookURL = "hooks.slack.com/x" }, "slack-webhook-url"},
		{"webhook and token", func(o *slack.Options) { o.WebhookURL, o.Token, o.Channel = hook, "x", "c" }, "slack-token"},
		{"token without channel", func(o *slack.Options) { o.Token = "xoxb-1" }, "slack-channel"},
		{"severity error", func(o *slack.Options) { o.MinSeverity = "error" }, "slack-min-severity"},
		{"burst 0", func(o *slack.Options) { o.Burst = 0 }, "slack-burst"},
		{"window 0", func(o *slack.Options) { o.BurstWindow = 0 }, "slack-burst-window"},
		{"missing template file", func(o *slack.Options) { o.Templates = filepath.Join(dir, "nope") }, "slack-templates"},
		{"unparsable template", func(o *slack.Options) { o.Templates = unparsable }, "slack-templates"},
		{"template with a missing field", func(o *slack.Options) { o.Templates = badField }, "slack-templates"},
		{"kured template with %d", func(o *slack.Options) { o.MessageReboot = "Rebooting %d" }, "message-template-reboot"},
		{"unknown shoutrrr service", func(o *slack.Options) { o.NotifyURL = "nosuch://x" }, "notify-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := slack.DefaultOptions()
			tc.edit(&o)
			err := o.Validate()
			if tc.wantFlag == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Flag != tc.wantFlag {
				t.Fatalf("error %v, want one about --%s", err, tc.wantFlag)
			}
		})
	}
}

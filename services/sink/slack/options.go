// Package slack is the sink's Slack output: it posts problems at or above a minimum severity and
// every reboot phase change as Block Kit messages, through an incoming webhook or a bot token
// (chat.postMessage), with text from Go templates users may override. Each message id is
// remembered in the NW_SLACK_SENT bucket after its post, so a redelivery is acked without
// posting again; a 429 is waited out and the same message retried, never dropped; more than
// --slack-burst messages in --slack-burst-window are folded into one summary. kured's
// notification flags (--notify-url through shoutrrr, --message-template-*) are accepted here too.
package slack

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/nicholas-fedor/shoutrrr"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// kured's defaults, with %s = the node.
const (
	DefaultMessageDrain    = "Draining node %s"
	DefaultMessageReboot   = "Rebooting node %s"
	DefaultMessageUncordon = "Node %s rebooted & uncordoned successfully!"
)

// Options configure the output. With no webhook, no token and no --notify-url it is off.
type Options struct {
	WebhookURL string
	Token      string
	Channel    string
	// APIURL is the Web API base (slack-go's OptionAPIURL); empty = Slack's. Tests point it
	// at slackfake; the flag is hidden from the docs but not the parser.
	APIURL   string
	Username string
	// MinSeverity is info, warning or critical.
	MinSeverity string
	// Burst messages per BurstWindow are posted one by one; the rest are folded into a summary.
	Burst       int
	BurstWindow time.Duration
	// Templates is a file of {{define "problem"|"condition"|"reboot"|"burst"}} overrides.
	Templates string
	// Timeout bounds one post.
	Timeout time.Duration

	// kured's: shoutrrr URLs (comma- or space-separated) that get the drain, reboot and
	// uncordon messages, and those messages' printf templates.
	NotifyURL       string
	MessageDrain    string
	MessageReboot   string
	MessageUncordon string
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	return Options{MinSeverity: "warning", Burst: 10, BurstWindow: time.Minute, Timeout: 10 * time.Second,
		MessageDrain: DefaultMessageDrain, MessageReboot: DefaultMessageReboot, MessageUncordon: DefaultMessageUncordon}
}

// AddFlags registers the --slack-* flags and kured's notification flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	d := DefaultOptions()
	fs.StringVar(&o.WebhookURL, "slack-webhook-url", "", "Slack incoming webhook URL; empty = use --slack-token, or no Slack output")
	fs.StringVar(&o.Token, "slack-token", "", "Slack bot token for chat.postMessage (with --slack-channel); empty = use --slack-webhook-url")
	fs.StringVar(&o.Channel, "slack-channel", "", "Slack channel id or name for --slack-token")
	fs.StringVar(&o.APIURL, "slack-api-url", "", "Slack Web API base URL (tests); empty = https://slack.com/api/")
	fs.StringVar(&o.Username, "slack-username", "", "name to post as (like kured's --slack-username); empty = the webhook's or app's own")
	fs.StringVar(&o.MinSeverity, "slack-min-severity", d.MinSeverity, "lowest problem severity posted: info, warning or critical (reboot phases are always posted)")
	fs.IntVar(&o.Burst, "slack-burst", d.Burst, "messages posted one by one per --slack-burst-window; the rest of the window is folded into one summary")
	fs.DurationVar(&o.BurstWindow, "slack-burst-window", d.BurstWindow, "window of --slack-burst")
	fs.StringVar(&o.Templates, "slack-templates", "", `file of Go text/template definitions overriding the built-in "problem", "condition", "reboot" and "burst"; empty = built-ins`)
	fs.DurationVar(&o.Timeout, "slack-timeout", d.Timeout, "timeout of one post")
	fs.StringVar(&o.NotifyURL, "notify-url", "", "kured's: shoutrrr URLs (github.com/nicholas-fedor/shoutrrr: slack://, teams://, smtp://, generic+https://, ...) "+
		"that get the drain, reboot and uncordon messages; several separated by commas; empty = none")
	fs.StringVar(&o.MessageDrain, "message-template-drain", d.MessageDrain, "kured's: message when a node is drained, %s = node")
	fs.StringVar(&o.MessageReboot, "message-template-reboot", d.MessageReboot, "kured's: message when a node is rebooted, %s = node")
	fs.StringVar(&o.MessageUncordon, "message-template-uncordon", d.MessageUncordon, "kured's: message when a node is back and uncordoned, %s = node")
}

// Enabled reports whether anything is to be posted.
func (o Options) Enabled() bool { return o.slackEnabled() || o.NotifyURL != "" }

func (o Options) slackEnabled() bool { return o.WebhookURL != "" || o.Token != "" }

// notifyURLs splits --notify-url.
func (o Options) notifyURLs() []string {
	return strings.FieldsFunc(o.NotifyURL, func(r rune) bool { return r == ',' || r == ' ' })
}

// Validate checks the options, including that the templates parse and render sample data.
func (o Options) Validate() error {
	if _, err := parseSeverity(o.MinSeverity); err != nil {
		return config.Invalid("slack-min-severity", o.MinSeverity, "%v", err)
	}
	if o.Burst < 1 {
		return config.Invalid("slack-burst", o.Burst, "must be at least 1")
	}
	if o.BurstWindow <= 0 {
		return config.Invalid("slack-burst-window", o.BurstWindow, "must be positive")
	}
	if o.Timeout <= 0 {
		return config.Invalid("slack-timeout", o.Timeout, "must be positive")
	}
	if o.WebhookURL != "" {
		if o.Token != "" {
			return config.Invalid("slack-token", "<redacted>", "give --slack-webhook-url or --slack-token, not both")
		}
		if err := checkHTTPURL(o.WebhookURL); err != nil {
			return config.Invalid("slack-webhook-url", redactURL(o.WebhookURL), "%v", err)
		}
	}
	if o.Token != "" && o.Channel == "" {
		return config.Invalid("slack-channel", o.Channel, "required with --slack-token")
	}
	if o.APIURL != "" {
		if err := checkHTTPURL(o.APIURL); err != nil {
			return config.Invalid("slack-api-url", o.APIURL, "%v", err)
		}
	}
	for name, v := range map[string]string{"message-template-drain": o.MessageDrain,
		"message-template-reboot": o.MessageReboot, "message-template-uncordon": o.MessageUncordon} {
		if strings.Contains(strings.NewReplacer("%%", "", "%s", "").Replace(v), "%") {
			return config.Invalid(name, v, "only %%s (the node) and %%%% may appear")
		}
	}
	if _, err := o.templates(); err != nil {
		return err
	}
	for _, u := range o.notifyURLs() {
		if _, err := shoutrrr.CreateSender(u); err != nil {
			return config.Invalid("notify-url", redactURL(u), "%v", err)
		}
	}
	return nil
}

// templates parses the built-ins, then the override file, and renders each with sample data,
// so a template naming a missing field fails at start, not at the first problem.
func (o Options) templates() (*template.Template, error) {
	t := template.Must(builtinTemplates())
	if o.Templates != "" {
		b, err := os.ReadFile(o.Templates)
		if err != nil {
			return nil, config.Invalid("slack-templates", o.Templates, "read: %v", err)
		}
		// Parse redefines the templates the file defines and keeps the others.
		if t, err = t.Parse(string(b)); err != nil {
			return nil, config.Invalid("slack-templates", o.Templates, "%v", err)
		}
	}
	for name, data := range sampleData() {
		if _, err := render(t, name, data); err != nil {
			return nil, config.Invalid("slack-templates", o.Templates, "%v", err)
		}
	}
	return t, nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want http(s)://host/...")
	}
	return nil
}

// redactURL keeps a webhook's or shoutrrr URL's scheme and host: the rest is a secret.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

func (o Options) String() string {
	via := "off"
	switch {
	case o.WebhookURL != "":
		via = "webhook " + redactURL(o.WebhookURL)
	case o.Token != "":
		via = "chat.postMessage to " + o.Channel
	}
	return fmt.Sprintf("slack=%s min-severity=%s burst=%d/%s notify-urls=%d", via, o.MinSeverity, o.Burst, o.BurstWindow, len(o.notifyURLs()))
}

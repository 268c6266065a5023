package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nicholas-fedor/shoutrrr"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
	goslack "github.com/slack-go/slack"
)

// poster delivers one message to one place.
type poster interface {
	post(ctx context.Context, m Message) error
}

// webhookPoster posts to an incoming webhook.
type webhookPoster struct {
	url, username string
	client        *http.Client
}

func (w *webhookPoster) post(ctx context.Context, m Message) error {
	msg := &goslack.WebhookMessage{Text: m.Text, Username: w.username}
	if len(m.Blocks) > 0 {
		msg.Blocks = &goslack.Blocks{BlockSet: m.Blocks}
	}
	if err := goslack.PostWebhookCustomHTTPContext(ctx, w.url, w.client, msg); err != nil {
		return fmt.Errorf("slack webhook: %w", err)
	}
	return nil
}

// apiPoster posts with chat.postMessage.
type apiPoster struct {
	client            *goslack.Client
	channel, username string
}

func (a *apiPoster) post(ctx context.Context, m Message) error {
	opts := []goslack.MsgOption{goslack.MsgOptionText(m.Text, false)}
	if len(m.Blocks) > 0 {
		opts = append(opts, goslack.MsgOptionBlocks(m.Blocks...))
	}
	if a.username != "" {
		opts = append(opts, goslack.MsgOptionUsername(a.username))
	}
	if _, _, err := a.client.PostMessageContext(ctx, a.channel, opts...); err != nil {
		return fmt.Errorf("slack chat.postMessage to %s: %w", a.channel, err)
	}
	return nil
}

// notifyPoster sends the text through shoutrrr to every --notify-url.
type notifyPoster struct {
	r *router.ServiceRouter
}

func newNotifyPoster(urls []string, timeout time.Duration) (*notifyPoster, error) {
	r, err := shoutrrr.CreateSender(urls...)
	if err != nil {
		return nil, fmt.Errorf("notify-url: %w", err)
	}
	r.Timeout = timeout
	return &notifyPoster{r: r}, nil
}

func (n *notifyPoster) post(_ context.Context, m Message) error {
	// shoutrrr takes no context; its router times out each send by itself, so waiting for
	// it here is bounded and a shutdown waits at most that long.
	errs := n.r.Send(m.Text, &types.Params{})
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		// A retry sends to every URL again: shoutrrr cannot tell which of them failed.
		return fmt.Errorf("notify-url: %w", errors.Join(failed...))
	}
	return nil
}

// retryAfter reports whether err is a rate-limit response and how long it asks to wait.
// slack-go turns a 429 with Retry-After into *RateLimitedError for webhooks and the Web API;
// a 429 without it is a StatusCodeError, and the Web API may also answer "ratelimited".
func retryAfter(err error) (time.Duration, bool) {
	var rl *goslack.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	var sc goslack.StatusCodeError
	if errors.As(err, &sc) && sc.Code == http.StatusTooManyRequests {
		return 0, true
	}
	var se goslack.SlackErrorResponse
	if errors.As(err, &se) && (se.Err == "ratelimited" || se.Err == "rate_limited") {
		return 0, true
	}
	return 0, false
}

// blocksRejected reports whether Slack refused the blocks themselves, so the text alone may
// still go through.
func blocksRejected(err error) bool {
	var sc goslack.StatusCodeError
	if errors.As(err, &sc) && sc.Code == http.StatusBadRequest {
		return true
	}
	var se goslack.SlackErrorResponse
	return errors.As(err, &se) && strings.HasPrefix(se.Err, "invalid_blocks")
}

// messageRejected reports whether Slack refused this message for what it is (too long, empty,
// malformed), so no retry can post it. Errors about the token or channel are not among them:
// they affect every message and are the operator's to fix.
func messageRejected(err error) bool {
	var se goslack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format", "invalid_attachments", "too_many_attachments":
			return true
		}
		return false
	}
	var sc goslack.StatusCodeError
	// A webhook answers 400 invalid_payload / no_text / invalid_blocks for the message itself.
	return errors.As(err, &sc) && (sc.Code == http.StatusBadRequest || sc.Code == http.StatusRequestEntityTooLarge)
}

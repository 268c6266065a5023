package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	goslack "github.com/slack-go/slack"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Durable is the output's consumer on EVENTS.
const Durable = "sink-slack"

// Output posts problems and reboot status to Slack and kured's notify URLs.
type Output struct {
	opts   Options
	min    nwv1.Severity
	tmpl   *template.Template
	sent   jetstream.KeyValue
	slack  poster // nil without --slack-webhook-url/--slack-token
	notify poster // nil without --notify-url
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
	// flushEvery is the consumer's FlushInterval: how long a message may wait for others to
	// join its batch.
	flushEvery time.Duration
	retryBase  time.Duration

	mu  sync.Mutex // HandleBatch runs on one consumer goroutine; the lock keeps tests honest
	win window
}

// window is the current burst window: when it opened and how many posts it has had.
type window struct {
	start  time.Time
	posted int
}

// New validates o and returns an Output that remembers posted ids in sent (the NW_SLACK_SENT
// bucket). It does not contact Slack.
func New(o Options, sent jetstream.KeyValue, log *slog.Logger, reg prometheus.Registerer) (*Output, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if !o.Enabled() {
		return nil, errors.New("slack: neither --slack-webhook-url, --slack-token nor --notify-url is set")
	}
	if sent == nil {
		return nil, fmt.Errorf("slack: no %s bucket", topology.BucketSlackSent)
	}
	t, err := o.templates()
	if err != nil {
		return nil, err
	}
	min, _ := parseSeverity(o.MinSeverity)
	out := &Output{opts: o, min: min, tmpl: t, sent: sent, log: log.With("output", "slack"), m: newMetrics(reg),
		now: time.Now, flushEvery: 200 * time.Millisecond, retryBase: 500 * time.Millisecond}
	httpClient := &http.Client{Timeout: o.Timeout}
	switch {
	case o.WebhookURL != "":
		out.slack = &webhookPoster{url: o.WebhookURL, username: o.Username, client: httpClient}
	case o.Token != "":
		opts := []goslack.Option{goslack.OptionHTTPClient(httpClient)}
		if o.APIURL != "" {
			opts = append(opts, goslack.OptionAPIURL(strings.TrimSuffix(o.APIURL, "/")+"/"))
		}
		out.slack = &apiPoster{client: goslack.New(o.Token, opts...), channel: o.Channel, username: o.Username}
	}
	if urls := o.notifyURLs(); len(urls) > 0 {
		if out.notify, err = newNotifyPoster(urls, o.Timeout); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Consumers returns the one durable consumer of problems and reboot status. Its batches are
// short (flushEvery) so a lone problem is posted at once; a burst arrives as a few batches.
func (o *Output) Consumers(sp subject.Space) []consume.Config {
	return []consume.Config{{
		Stream: topology.StreamEvents, Durable: Durable,
		Filters:     []string{sp.Join("problem", "*"), sp.Join("reboot", "status", "*")},
		DeadSubject: sp.Dead(topology.StreamEvents), Decode: schema.Decoder(sp),
		HandleBatch: o.HandleBatch, Batch: 1000, FlushInterval: o.flushEvery,
		// A batch may wait out a burst window for its summary; keepAlive marks it in progress.
		AckWait: 30 * time.Second,
	}}
}

// item is one message on its way: what to post where, and under which ids.
type item struct {
	idx    int
	id     string // the message id (Nats-Msg-Id, or stream:sequence)
	slack  *Message
	notify string // kured's text for --notify-url, or ""
	node   string
	reason string
}

// HandleBatch posts the batch's messages in order. Result i is nil once ms[i] is posted (or
// was posted before, or is not to be posted), Permanent for a message Slack rejects or a
// payload of the wrong type, and a plain error (nak, retried with backoff) when ctx ended or
// the bucket could not be read first.
//
// Burst grouping: the first Burst posts of a window go out one by one. Once a window has had
// Burst posts, further messages are folded: HandleBatch holds them until the window ends,
// posts one summary, records their ids and only then returns nil for them, so a crash before
// the summary redelivers them. Holding the batch also holds the consumer, which is the point:
// messages that arrive meanwhile open the next window, so Slack sees at most Burst+1 posts per
// window however long the storm lasts.
func (o *Output) HandleBatch(ctx context.Context, ms []*consume.Message) []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	errs := make([]error, len(ms))
	var folded []item
	var failed error // after a retryable failure the rest of the batch is nak'ed, keeping order
	for i, m := range ms {
		if failed != nil {
			errs[i] = failed
			continue
		}
		it, ok, err := o.prepare(i, m)
		if err != nil || !ok {
			errs[i] = err
			continue
		}
		if it.slack != nil {
			done, err := o.isSent(ctx, "s", it.id)
			switch {
			case err != nil:
				errs[i], failed = err, err
				continue
			case done:
				o.m.duplicates.Inc()
			default:
				now := o.now()
				// Once this batch folds, the rest of it joins the same summary.
				if len(folded) == 0 && (o.win.start.IsZero() || now.Sub(o.win.start) >= o.opts.BurstWindow) {
					o.win = window{start: now}
				}
				if o.win.posted >= o.opts.Burst {
					folded = append(folded, it)
					continue
				}
				if err := o.post(ctx, o.slack, *it.slack); err != nil {
					errs[i] = err
					if !consume.IsPermanent(err) {
						failed = err
					}
					continue
				}
				o.win.posted++
				o.m.posted.WithLabelValues("slack").Inc()
				o.record(ctx, "s", it.id)
			}
		}
		if err := o.notifyOnce(ctx, it); err != nil {
			errs[i] = err
			if !consume.IsPermanent(err) {
				failed = err
			}
		}
	}
	if len(folded) > 0 {
		o.summarize(ctx, folded, errs)
	}
	return errs
}

// prepare renders a message; ok is false for a problem below --slack-min-severity.
func (o *Output) prepare(i int, m *consume.Message) (it item, ok bool, err error) {
	it = item{idx: i, id: messageID(m)}
	switch p := m.Payload.(type) {
	case *nwv1.Problem:
		if effectiveSeverity(p.GetSeverity()) < o.min {
			o.m.skipped.Inc()
			return it, false, nil
		}
		it.node, it.reason = p.GetNode(), p.GetReason()
		if p.GetKind() == nwv1.ProblemKind_PROBLEM_KIND_CONDITION {
			it.reason = p.GetType() + "=" + statusName(p.GetStatus())
		}
		if o.slack != nil {
			msg, err := problemMessage(o.tmpl, problemData(p))
			if err != nil {
				return it, false, consume.Permanent(err)
			}
			it.slack = &msg
		}
	case *nwv1.RebootStatus:
		it.node, it.reason = p.GetNode(), "reboot "+phaseName(p.GetPhase())
		it.notify = o.kured(p)
		if o.slack != nil {
			msg, err := rebootMessage(o.tmpl, p, it.notify)
			if err != nil {
				return it, false, consume.Permanent(err)
			}
			it.slack = &msg
		}
	default:
		return it, false, consume.Permanent(fmt.Errorf("slack: no message for %s (%T)", m.Subject, m.Payload))
	}
	return it, true, nil
}

// kured is kured's message for the phases kured notifies: drain, reboot and uncordon.
func (o *Output) kured(st *nwv1.RebootStatus) string {
	var f string
	switch st.GetPhase() {
	case nwv1.RebootPhase_REBOOT_PHASE_DRAINING:
		f = o.opts.MessageDrain
	case nwv1.RebootPhase_REBOOT_PHASE_REBOOTING:
		f = o.opts.MessageReboot
	case nwv1.RebootPhase_REBOOT_PHASE_COMPLETED:
		f = o.opts.MessageUncordon
	default:
		return ""
	}
	if f == "" {
		return ""
	}
	return strings.ReplaceAll(strings.ReplaceAll(f, "%s", st.GetNode()), "%%", "%")
}

// notifyOnce sends kured's message to --notify-url unless it was sent before.
func (o *Output) notifyOnce(ctx context.Context, it item) error {
	if o.notify == nil || it.notify == "" {
		return nil
	}
	done, err := o.isSent(ctx, "n", it.id)
	if err != nil || done {
		return err
	}
	if err := o.post(ctx, o.notify, Message{Text: it.notify}); err != nil {
		return err
	}
	o.m.posted.WithLabelValues("notify").Inc()
	o.record(ctx, "n", it.id)
	return nil
}

// summarize waits for the window to end, posts one summary of folded, and settles them.
func (o *Output) summarize(ctx context.Context, folded []item, errs []error) {
	fail := func(err error) {
		for _, it := range folded {
			errs[it.idx] = err
		}
	}
	if wait := o.win.start.Add(o.opts.BurstWindow).Sub(o.now()); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			fail(fmt.Errorf("slack: burst summary of %d messages abandoned: %w", len(folded), ctx.Err()))
			return
		case <-t.C:
		}
	}
	msg, err := burstMessage(o.tmpl, burstData(folded, o.opts.BurstWindow))
	if err == nil {
		err = o.post(ctx, o.slack, msg)
	}
	if err != nil {
		if consume.IsPermanent(err) {
			// A summary Slack refuses says nothing about the folded messages: retry them.
			err = fmt.Errorf("burst summary refused: %w", errors.Unwrap(err))
		}
		fail(err)
		return
	}
	o.win = window{} // the next message opens a new window
	o.m.posted.WithLabelValues("slack_summary").Inc()
	o.m.folded.Add(float64(len(folded)))
	for _, it := range folded {
		o.record(ctx, "s", it.id)
		if err := o.notifyOnce(ctx, it); err != nil {
			errs[it.idx] = err
		}
	}
}

func burstData(folded []item, w time.Duration) BurstData {
	type key struct{ node, reason string }
	counts := map[key]int{}
	var order []key
	nodes := map[string]bool{}
	for _, it := range folded {
		k := key{it.node, it.reason}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
		nodes[it.node] = true
	}
	d := BurstData{Count: len(folded), NodeCount: len(nodes), Window: w}
	for _, k := range order {
		if len(d.Items) == maxBurstItems {
			d.Omitted++
			continue
		}
		d.Items = append(d.Items, BurstItem{Node: k.node, Reason: k.reason, Count: counts[k]})
	}
	return d
}

// post delivers m, retrying the same message in place until it is posted, Slack rejects the
// message itself (Permanent: it is dead-lettered), or ctx ends. A 429 waits Retry-After; other
// failures (network, 5xx, a revoked token or a missing channel, which an operator fixes) back
// off up to a minute. Retrying in place rather than nak'ing keeps the posts in order: a nak'ed
// "draining" could otherwise follow the "completed" behind it. Blocks Slack refuses are
// dropped once, so the text still gets through.
func (o *Output) post(ctx context.Context, p poster, m Message) error {
	backoffs := 0
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return fmt.Errorf("post abandoned: %w", ctx.Err())
		}
		// A post once sent runs to its answer (bounded by --slack-timeout) even when the sink
		// stops: cut short, Slack may have shown it while we record nothing, and the
		// redelivery would post it twice.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.opts.Timeout)
		err := p.post(pctx, m)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("post abandoned: %w", err)
		}
		if blocksRejected(err) && len(m.Blocks) > 0 {
			o.log.Warn("slack refused the blocks; posting the text alone", "err", err)
			m.Blocks = nil
			continue
		}
		if messageRejected(err) {
			o.m.errors.WithLabelValues("rejected").Inc()
			return consume.Permanent(err)
		}
		wait, limited := retryAfter(err)
		switch {
		case limited:
			o.m.errors.WithLabelValues("rate_limited").Inc()
			if wait <= 0 {
				wait = time.Second
			}
		default:
			o.m.errors.WithLabelValues("error").Inc()
			wait = backoff.Duration(backoffs, o.retryBase, time.Minute)
			backoffs++
		}
		o.log.Warn("post failed; retrying the same message", "retry_in", wait, "attempt", attempt+1, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("post abandoned: %w", err)
		case <-t.C:
		}
	}
}

// Package consume runs a durable JetStream pull consumer: it decodes each message, hands it to
// the service's handler, and acks only after the handler succeeded. A retryable failure is
// nak'ed with backoff; a message that can never be processed (it does not decode, the handler
// calls it Permanent, or the handler panics) is copied to the dead-letter subject with its
// original subject and the reason in headers, terminated and counted. The loop never crashes.
// With HandleBatch instead of Handle it hands over batches by size or flush interval (batch.go).
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/publish"
)

// Headers set on a dead letter.
const (
	HeaderOriginalSubject  = "Nw-Original-Subject"
	HeaderOriginalStream   = "Nw-Original-Stream"
	HeaderOriginalSequence = "Nw-Original-Sequence"
	HeaderOriginalMsgID    = "Nw-Original-Msg-Id"
	HeaderConsumer         = "Nw-Consumer"
	HeaderReason           = "Nw-Dead-Reason"
	// HeaderTruncated is set, to the original size, when the copy had to be cut to fit the
	// server's max payload beside the headers.
	HeaderTruncated = "Nw-Dead-Truncated"
)

// pullHeartbeat is the idle heartbeat asked of every pull request. nats.go (v1.55) does not
// re-pull when the last message of a pull is taken while the request for it is still being
// sent (its goroutine was descheduled, as under load), and the iterator then waits for a
// message that cannot come until it misses two heartbeats: 30 s at the default heartbeat.
// A short one bounds that stall (TestBatchPanicRetriesWholeBatch saw it under CPU load).
const pullHeartbeat = 2 * time.Second

// pullOptions are the iterator's options for prefetching up to n messages.
func pullOptions(n int) []jetstream.PullMessagesOpt {
	return []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(n), jetstream.PullHeartbeat(pullHeartbeat)}
}

// Message is one delivered message, decoded.
type Message struct {
	Subject   string
	Header    nats.Header
	Data      []byte
	Payload   proto.Message
	Stream    string
	StreamSeq uint64
	Delivered uint64 // 1 on first delivery
	Time      time.Time
}

// Decoder turns a message's bytes into its protobuf payload, choosing the type by subject.
type Decoder func(subject string, data []byte) (proto.Message, error)

// Handler does a message's side effect. It returns nil when done (the message is acked),
// an error to retry later (nak with backoff), or Permanent(err) to dead-letter it.
type Handler func(ctx context.Context, m *Message) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks an error that no retry will fix: the message is dead-lettered.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanentError)) }

// Config describes one durable consumer.
type Config struct {
	Stream  string
	Durable string
	// Filters restrict the consumer to these subjects; empty = the whole stream.
	Filters []string
	// DeadSubject receives dead letters (subject.Space.Dead(stream)).
	DeadSubject string
	Decode      Decoder
	// Handle processes one message at a time. Exactly one of Handle and HandleBatch is set.
	Handle Handler
	// HandleBatch processes messages in batches (see batch.go).
	HandleBatch BatchHandler
	// FlushInterval is how long a batch may wait for more messages after its first one
	// arrived (batch mode only; default 1s).
	FlushInterval time.Duration
	// Weigh gives a message's share of Batch in batch mode (e.g. the points it becomes);
	// nil counts every message as 1.
	Weigh func(*Message) int
	// AckWait is how long a delivery may stay unacked before JetStream redelivers it.
	AckWait time.Duration
	// MaxAckPending bounds unacked deliveries in flight.
	MaxAckPending int
	// Batch is how many messages one pull asks for; in batch mode, the weight at which a
	// batch is handed over.
	Batch int
	// RetryBase and RetryMax bound the nak delay of a failed message.
	RetryBase, RetryMax time.Duration
	// DeliverPolicy of a new consumer; the zero value delivers everything the stream holds.
	DeliverPolicy jetstream.DeliverPolicy
}

func (c *Config) defaults() {
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
		if c.HandleBatch != nil {
			// A batch in hand is kept in progress every AckWait/3, so a short AckWait only
			// shortens how long a killed consumer's unacked batch waits to be redelivered.
			c.AckWait = 10 * time.Second
		}
	}
	if c.Batch == 0 {
		c.Batch = 100
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 1000
		if c.HandleBatch != nil {
			// Room for a full batch plus the next one filling while the first is handled.
			c.MaxAckPending = max(1000, 2*c.Batch)
		}
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.RetryBase == 0 {
		c.RetryBase = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = time.Minute
	}
}

// Consumer is a configured consume loop.
type Consumer struct {
	cfg Config
	js  jetstream.JetStream
	pub *publish.Publisher
	log *slog.Logger
	m   *Metrics
}

// New checks cfg and returns a Consumer; Run starts it.
func New(js jetstream.JetStream, pub *publish.Publisher, cfg Config, log *slog.Logger, m *Metrics) (*Consumer, error) {
	if cfg.Stream == "" || cfg.Durable == "" || cfg.DeadSubject == "" || cfg.Decode == nil {
		return nil, errors.New("consume: stream, durable, dead subject and decoder are required")
	}
	if (cfg.Handle == nil) == (cfg.HandleBatch == nil) {
		return nil, errors.New("consume: exactly one of Handle and HandleBatch must be set")
	}
	if err := cfg.checkBatch(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return &Consumer{cfg: cfg, js: js, pub: pub, m: m,
		log: log.With("stream", cfg.Stream, "consumer", cfg.Durable)}, nil
}

// Run consumes until ctx ends, then returns nil. It (re)creates the durable consumer when it
// is missing, and keeps going through server restarts.
func (c *Consumer) Run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := c.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff.Duration(attempt, 200*time.Millisecond, 10*time.Second)
		c.log.Warn("consumer interrupted; restarting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (c *Consumer) runOnce(ctx context.Context) error {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable:        c.cfg.Durable,
		FilterSubjects: c.cfg.Filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.cfg.AckWait,
		MaxAckPending:  c.cfg.MaxAckPending,
		MaxDeliver:     -1, // a retryable failure is retried until it succeeds; poison goes to DEAD
		DeliverPolicy:  c.cfg.DeliverPolicy,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	if c.cfg.HandleBatch != nil {
		return c.runBatch(ctx, cons)
	}
	iter, err := cons.Messages(pullOptions(c.cfg.Batch)...)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.cfg.Durable, err)
	}
	stop := context.AfterFunc(ctx, iter.Stop)
	defer stop()
	defer iter.Stop()
	for {
		msg, err := iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return err
			}
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				return err
			}
			// Missed heartbeats and the like: the iterator re-issues its pulls by itself.
			c.log.Debug("pull interrupted", "err", err)
			continue
		}
		c.process(ctx, msg)
	}
}

// process handles one delivery and settles it: ack, nak with delay, or dead letter + term.
func (c *Consumer) process(ctx context.Context, msg jetstream.Msg) {
	m, ok := c.receive(ctx, msg)
	if !ok {
		return
	}
	c.settle(ctx, msg, m, c.handle(ctx, m))
}

// receive decodes a delivery; one that does not decode is dead-lettered and ok is false.
func (c *Consumer) receive(ctx context.Context, msg jetstream.Msg) (m *Message, ok bool) {
	m = &Message{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data(), Stream: c.cfg.Stream}
	if meta, err := msg.Metadata(); err == nil {
		m.StreamSeq, m.Delivered, m.Time = meta.Sequence.Stream, meta.NumDelivered, meta.Timestamp
	}
	payload, err := c.decode(m)
	if err != nil {
		c.deadLetter(ctx, msg, m, "decode", err)
		return nil, false
	}
	m.Payload = payload
	return m, true
}

// settle acks, naks with backoff, or dead-letters a delivery by its handler's result.
func (c *Consumer) settle(ctx context.Context, msg jetstream.Msg, m *Message, err error) {
	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			c.log.Warn("ack failed; the message will be redelivered", "subject", m.Subject, "seq", m.StreamSeq, "err", aerr)
		}
		c.m.processed.WithLabelValues(c.cfg.Durable, "ok").Inc()
	case IsPermanent(err):
		reason := "rejected"
		var pe panicError
		if errors.As(err, &pe) {
			reason = "panic"
		}
		c.deadLetter(ctx, msg, m, reason, err)
	default:
		delay := backoff.Duration(int(m.Delivered)-1, c.cfg.RetryBase, c.cfg.RetryMax)
		c.log.Warn("handler failed; will retry", "subject", m.Subject, "seq", m.StreamSeq,
			"delivered", m.Delivered, "retry_in", delay, "err", err)
		_ = msg.NakWithDelay(delay)
		c.m.processed.WithLabelValues(c.cfg.Durable, "retry").Inc()
	}
}

func (c *Consumer) decode(m *Message) (p proto.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return c.cfg.Decode(m.Subject, m.Data)
}

type panicError struct{ msg string }

func (e panicError) Error() string { return e.msg }

func (c *Consumer) handle(ctx context.Context, m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("handler panic", "subject", m.Subject, "seq", m.StreamSeq, "panic", r, "stack", string(debug.Stack()))
			err = Permanent(panicError{fmt.Sprintf("handler panic: %v", r)})
		}
	}()
	return c.cfg.Handle(ctx, m)
}

// deadLetter copies the message to the dead-letter subject, then terminates it. If the copy
// cannot be stored the message is nak'ed instead, so it is never lost.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, m *Message, reason string, cause error) {
	h := deadHeader(m, c.cfg.Durable, reason, cause)
	data := fitPayload(m.Data, h, c.js.Conn().MaxPayload())
	id := fmt.Sprintf("dead:%s:%d:%s", m.Stream, m.StreamSeq, c.cfg.Durable)
	if _, err := c.pub.PublishRaw(ctx, c.cfg.DeadSubject, id, data, h); err != nil {
		c.log.Error("dead letter not stored; will retry", "subject", m.Subject, "seq", m.StreamSeq, "err", err)
		_ = msg.NakWithDelay(backoff.Duration(int(m.Delivered)-1, c.cfg.RetryBase, c.cfg.RetryMax))
		c.m.processed.WithLabelValues(c.cfg.Durable, "retry").Inc()
		return
	}
	c.log.Warn("message dead-lettered", "subject", m.Subject, "seq", m.StreamSeq, "reason", reason, "err", cause)
	if err := msg.TermWithReason(reason); err != nil {
		c.log.Warn("term failed; a redelivery will be dead-lettered again under the same id", "err", err)
	}
	c.m.processed.WithLabelValues(c.cfg.Durable, "dead").Inc()
	c.m.dead.WithLabelValues(m.Stream, c.cfg.Durable, reason).Inc()
}

// deadHeader is a dead letter's header: the original's, with its message id kept as
// HeaderOriginalMsgID and without the headers JetStream interprets (Nats-Stream-Source on a
// sourced message, Nats-Expected-*, Nats-Rollup, ...), which a publish may not carry or which
// would change how DEAD stores the copy; then where it came from and why it died.
func deadHeader(m *Message, durable, reason string, cause error) nats.Header {
	h := nats.Header{}
	for k, vs := range m.Header {
		switch {
		case k == jetstream.MsgIDHeader:
			h.Set(HeaderOriginalMsgID, vs[0])
		case strings.HasPrefix(k, "Nats-"):
		default:
			h[k] = vs
		}
	}
	h.Set(HeaderOriginalSubject, m.Subject)
	h.Set(HeaderOriginalStream, m.Stream)
	h.Set(HeaderOriginalSequence, strconv.FormatUint(m.StreamSeq, 10))
	h.Set(HeaderConsumer, durable)
	h.Set(HeaderReason, truncate(reason+": "+cause.Error(), 1024))
	return h
}

// deadHeaderRoom is what a dead letter's publish adds besides the header's own keys and
// values: the NATS/1.0 line, separators, and the Nats-Msg-Id of the copy.
const deadHeaderRoom = 512

// fitPayload cuts data so that the dead letter, headers and all, fits the server's max
// payload: a message just under the limit would not fit with the dead-letter headers, and
// copying it would fail forever. A cut copy says so in HeaderTruncated (the original size).
func fitPayload(data []byte, h nats.Header, maxPayload int64) []byte {
	if maxPayload <= 0 {
		return data
	}
	size := deadHeaderRoom + len(HeaderTruncated) + 24
	for k, vs := range h {
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	room := int(maxPayload) - size
	if len(data) <= room {
		return data
	}
	h.Set(HeaderTruncated, strconv.Itoa(len(data)))
	return data[:max(room, 0)]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Package outbox decouples the collector's loops from NATS: every message goes into a bounded
// in-memory buffer that one sender drains into JetStream, retrying with backoff while NATS is
// unreachable, so collection never blocks. When the buffer is full the oldest samples are
// dropped first and counted; log batches and reboot requests are never dropped for a sample,
// and a reboot request is never dropped at all.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
)

// Class orders what is sent first and what is dropped first.
type Class int

// Classes, most important first.
const (
	Reboot Class = iota // never dropped
	Log                 // dropped only when the buffer holds nothing but logs and reboots
	Sample              // node and container samples, health reports: dropped first, oldest first
	numClasses
)

var classNames = [numClasses]string{"reboot", "log", "sample"}

// ErrClosed is returned by Send after the outbox stopped.
var ErrClosed = errors.New("outbox closed")

// ErrDropped is returned by Send when its message was dropped to make room.
var ErrDropped = errors.New("dropped: outbox full")

// Item is one message to publish.
type Item struct {
	Subject string
	MsgID   string
	Data    []byte
	Class   Class
	done    chan error // nil for fire-and-forget
}

// Publisher is what the outbox sends through (publish.Publisher fits).
type Publisher interface {
	PublishRaw(ctx context.Context, subj, msgID string, data []byte, h nats.Header) (*jetstream.PubAck, error)
}

// Options size the outbox.
type Options struct {
	// Size is the most messages held; a reboot request may exceed it.
	Size int
	// Timeout bounds one publish attempt.
	Timeout time.Duration
	// RetryBase and RetryMax bound the wait between failed attempts.
	RetryBase, RetryMax time.Duration
}

// Outbox is the bounded buffer and its sender.
type Outbox struct {
	pub  Publisher
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	queues [numClasses][]*Item
	n      int
	wake   chan struct{}
	closed bool

	queued  *prometheus.GaugeVec
	dropped *prometheus.CounterVec
	sent    *prometheus.CounterVec
	retries prometheus.Counter
}

// New returns an outbox; Run sends.
func New(pub Publisher, opts Options, log *slog.Logger, reg prometheus.Registerer) *Outbox {
	if opts.Size <= 0 {
		opts.Size = 10000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 100 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Second
	}
	o := &Outbox{pub: pub, opts: opts, log: log, wake: make(chan struct{}, 1),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nodewarden_collector_outbox_messages",
			Help: "Messages waiting in the collector's outbox, by class."}, []string{"class"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_collector_outbox_dropped_total",
			Help: "Messages dropped because the outbox was full, by class."}, []string{"class"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_collector_outbox_sent_total",
			Help: "Messages the outbox published, by class."}, []string{"class"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_collector_outbox_retries_total",
			Help: "Failed publish attempts that will be retried."}),
	}
	for _, c := range classNames {
		o.queued.WithLabelValues(c)
		o.dropped.WithLabelValues(c)
		o.sent.WithLabelValues(c)
	}
	reg.MustRegister(o.queued, o.dropped, o.sent, o.retries)
	return o
}

// Offer queues a message and returns at once; it never blocks.
func (o *Outbox) Offer(subj, msgID string, data []byte, class Class) {
	o.enqueue(&Item{Subject: subj, MsgID: msgID, Data: data, Class: class})
}

// Send queues a message and waits until JetStream stored it (nil), it was dropped
// (ErrDropped), the outbox closed (ErrClosed) or ctx ended. Callers that persist progress (the
// log watchers' state files, the sentinel) use it so progress is saved only once stored.
func (o *Outbox) Send(ctx context.Context, subj, msgID string, data []byte, class Class) error {
	it := &Item{Subject: subj, MsgID: msgID, Data: data, Class: class, done: make(chan error, 1)}
	o.enqueue(it)
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Outbox) enqueue(it *Item) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		finish(it, ErrClosed)
		return
	}
	var victim *Item
	if o.n >= o.opts.Size && it.Class != Reboot {
		victim = o.evictLocked(it)
	}
	if victim != it {
		o.queues[it.Class] = append(o.queues[it.Class], it)
		o.n++
		o.queued.WithLabelValues(classNames[it.Class]).Inc()
	}
	o.mu.Unlock()
	if victim != nil {
		o.dropped.WithLabelValues(classNames[victim.Class]).Inc()
		finish(victim, ErrDropped)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// evictLocked picks what to drop for the incoming item: the oldest sample; else, for an
// incoming sample, the sample itself; else the oldest log batch, which is the incoming one
// when only reboot requests are queued (so only reboot requests ever exceed Size).
func (o *Outbox) evictLocked(in *Item) *Item {
	if len(o.queues[Sample]) > 0 {
		return o.popLocked(Sample)
	}
	if in.Class == Sample || len(o.queues[Log]) == 0 {
		return in
	}
	return o.popLocked(Log)
}

// popLocked takes the oldest item of class c off its queue.
func (o *Outbox) popLocked(c Class) *Item {
	q := o.queues[c]
	it := q[0]
	q[0] = nil // let the dropped payload be collected
	o.queues[c] = q[1:]
	o.n--
	o.queued.WithLabelValues(classNames[c]).Dec()
	return it
}

// next returns the most important queued item without removing it.
func (o *Outbox) next() *Item {
	o.mu.Lock()
	defer o.mu.Unlock()
	for c := Class(0); c < numClasses; c++ {
		if len(o.queues[c]) > 0 {
			return o.queues[c][0]
		}
	}
	return nil
}

// remove takes it off its queue if it is still at the head (it may have been evicted).
func (o *Outbox) remove(it *Item) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if q := o.queues[it.Class]; len(q) == 0 || q[0] != it {
		return false
	}
	o.popLocked(it.Class)
	return true
}

// Len is the number of queued messages.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// Run sends until ctx ends; then it fails what is still queued with ErrClosed.
func (o *Outbox) Run(ctx context.Context) {
	defer o.close()
	attempt := 0
	for {
		// Checked on every turn, not only when idle or after a failure: while messages keep
		// coming and publishes keep succeeding, the queue may never empty.
		if ctx.Err() != nil {
			return
		}
		it := o.next()
		if it == nil {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		pctx, cancel := context.WithTimeout(ctx, o.opts.Timeout)
		_, err := o.pub.PublishRaw(pctx, it.Subject, it.MsgID, it.Data, nil)
		cancel()
		if err == nil {
			attempt = 0
			if o.remove(it) {
				o.sent.WithLabelValues(classNames[it.Class]).Inc()
				finish(it, nil)
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		o.retries.Inc()
		wait := backoff.Duration(attempt, o.opts.RetryBase, o.opts.RetryMax)
		if attempt == 0 || attempt%20 == 0 {
			o.log.Warn("publish failed; buffering", "subject", it.Subject, "queued", o.Len(), "retry_in", wait, "err", err)
		}
		attempt++
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (o *Outbox) close() {
	o.mu.Lock()
	o.closed = true
	var rest []*Item
	for c := range o.queues {
		rest = append(rest, o.queues[c]...)
		o.queues[c] = nil
		o.queued.WithLabelValues(classNames[c]).Set(0)
	}
	o.n = 0
	o.mu.Unlock()
	for _, it := range rest {
		finish(it, ErrClosed)
	}
}

func finish(it *Item, err error) {
	if it.done != nil {
		it.done <- err
	}
}

// String names a class.
func (c Class) String() string {
	if c >= 0 && c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

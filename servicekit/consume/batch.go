package consume

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
)

// BatchHandler does the side effect of several messages at once (one write to a database).
// Result i settles ms[i] as a Handler's result would: nil acks it, Permanent(err) dead-letters
// it, any other error naks it with backoff. A result slice of the wrong length naks the batch.
type BatchHandler func(ctx context.Context, ms []*Message) []error

// maxPrefetch bounds the messages the iterator buffers ahead of the batch being filled, so a
// large Batch of large messages does not buffer them all twice.
const maxPrefetch = 1000

func (c *Config) checkBatch() error {
	if c.HandleBatch == nil {
		return nil
	}
	if c.MaxAckPending != 0 && c.MaxAckPending < c.Batch {
		return fmt.Errorf("consume: MaxAckPending %d is below Batch %d: a batch could never fill", c.MaxAckPending, c.Batch)
	}
	if c.FlushInterval < 0 {
		return fmt.Errorf("consume: negative FlushInterval %s", c.FlushInterval)
	}
	return nil
}

// pending is a decoded delivery waiting in a batch.
type pending struct {
	msg jetstream.Msg
	m   *Message
}

// runBatch collects deliveries into batches and hands each to HandleBatch when it weighs
// Batch or FlushInterval after its first message arrived. The iterator's Next blocks, so a
// feeding goroutine turns it into a channel the batching loop can select on with a timer.
func (c *Consumer) runBatch(ctx context.Context, cons jetstream.Consumer) error {
	iter, err := cons.Messages(pullOptions(min(c.cfg.Batch, maxPrefetch))...)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.cfg.Durable, err)
	}
	stop := context.AfterFunc(ctx, iter.Stop)
	defer stop()
	msgs := make(chan jetstream.Msg)
	var feedErr error // written before msgs is closed, read after
	go func() {
		defer close(msgs)
		feedErr = c.feed(ctx, iter, msgs)
	}()
	var batch []pending
	defer func() {
		// Deliveries not handed over are returned at once rather than after AckWait.
		for _, p := range batch {
			_ = p.msg.Nak()
		}
		iter.Stop()
		for msg := range msgs { // until the feeder has ended
			_ = msg.Nak()
		}
	}()
	weight := 0
	var flush <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				return fmt.Errorf("consume %s: %w", c.cfg.Durable, feedErr)
			}
			m, ok := c.receive(ctx, msg)
			if !ok {
				continue
			}
			if len(batch) == 0 {
				timer = time.NewTimer(c.cfg.FlushInterval)
				flush = timer.C
			}
			batch = append(batch, pending{msg, m})
			weight += c.weigh(m)
			if weight < c.cfg.Batch {
				continue
			}
			timer.Stop()
		case <-flush:
		}
		c.handleBatch(ctx, batch)
		batch, weight, flush = nil, 0, nil
	}
}

// feed moves deliveries from the iterator to msgs until the iterator ends, and returns why.
func (c *Consumer) feed(ctx context.Context, iter jetstream.MessagesContext, msgs chan<- jetstream.Msg) error {
	for {
		msg, err := iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil ||
				errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				return err
			}
			// Missed heartbeats and the like: the iterator re-issues its pulls by itself.
			c.log.Debug("pull interrupted", "err", err)
			continue
		}
		msgs <- msg // runBatch drains msgs until it is closed, so this never blocks forever
	}
}

func (c *Consumer) weigh(m *Message) int {
	if c.cfg.Weigh == nil {
		return 1
	}
	return max(c.cfg.Weigh(m), 1)
}

// handleBatch runs HandleBatch and settles every message by its result. While the handler
// works (an output may retry for minutes) the deliveries are marked in progress, so JetStream
// does not redeliver them to another consumer of the durable meanwhile.
func (c *Consumer) handleBatch(ctx context.Context, batch []pending) {
	ms := make([]*Message, len(batch))
	for i, p := range batch {
		ms[i] = p.m
	}
	done := make(chan struct{})
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		c.keepAlive(done, batch)
	}()
	errs, err := c.callBatch(ctx, ms)
	close(done)
	<-kept
	for i, p := range batch {
		switch {
		case err != nil:
			delay := backoff.Duration(int(p.m.Delivered)-1, c.cfg.RetryBase, c.cfg.RetryMax)
			_ = p.msg.NakWithDelay(delay)
			c.m.processed.WithLabelValues(c.cfg.Durable, "retry").Inc()
		default:
			c.settle(ctx, p.msg, p.m, errs[i])
		}
	}
}

func (c *Consumer) keepAlive(done <-chan struct{}, batch []pending) {
	tick := time.NewTicker(c.cfg.AckWait / 3)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			for _, p := range batch {
				_ = p.msg.InProgress()
			}
		}
	}
}

// callBatch runs the handler. A panic, or a result of the wrong length, fails the whole batch
// as retryable: which message caused it is unknown, and dead-lettering them all would lose
// good data.
func (c *Consumer) callBatch(ctx context.Context, ms []*Message) (errs []error, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("batch handler panic; the batch will be retried", "messages", len(ms),
				"panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("batch handler panic: %v", r)
		}
	}()
	errs = c.cfg.HandleBatch(ctx, ms)
	if len(errs) != len(ms) {
		c.log.Error("batch handler returned the wrong number of results; the batch will be retried",
			"messages", len(ms), "results", len(errs))
		return nil, fmt.Errorf("batch handler: %d results for %d messages", len(errs), len(ms))
	}
	return errs, nil
}

package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// messageID is the message's Nats-Msg-Id, or its stream and sequence when it has none.
func messageID(m *consume.Message) string {
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
		return id
	}
	return m.Stream + ":" + strconv.FormatUint(m.StreamSeq, 10)
}

// key is the bucket key of an id for a target ("s" Slack, "n" notify): ids may hold
// characters keys may not, so they are hashed.
func key(target, id string) string {
	h := sha256.Sum256([]byte(id))
	return target + "." + hex.EncodeToString(h[:20])
}

func (o *Output) isSent(ctx context.Context, target, id string) (bool, error) {
	_, err := o.sent.Get(ctx, key(target, id))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("look up %s in %s: %w", id, topology.BucketSlackSent, err)
}

// record remembers a posted id. It tries a few times, then gives up with a warning and lets
// the message be acked anyway: once acked it is not redelivered, while a nak would post it
// again for sure.
func (o *Output) record(ctx context.Context, target, id string) {
	// The post happened: a shutdown must not cut the record short, or the redelivery after the
	// restart would post it again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	for attempt := range 3 {
		if _, err = o.sent.Create(ctx, key(target, id), []byte(id)); err == nil || errors.Is(err, jetstream.ErrKeyExists) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff.Duration(attempt, 100*time.Millisecond, time.Second)):
		}
	}
	o.m.errors.WithLabelValues("record").Inc()
	o.log.Warn("posted message id not recorded; a redelivery would post it again", "id", id, "err", err)
}

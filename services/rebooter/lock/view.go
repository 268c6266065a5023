package lock

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// slotState is the latest entry seen for a slot: held with a decoded holder, or a delete marker
// whose revision a taker compares against.
type slotState struct {
	rev    uint64
	held   bool
	holder Holder
}

// view maps slot number to its latest known state; a slot never written is absent.
type view map[int]slotState

func (v view) apply(e jetstream.KeyValueEntry) {
	slot, ok := slotOf(e.Key())
	if !ok {
		return
	}
	s := slotState{rev: e.Revision()}
	if e.Operation() == jetstream.KeyValuePut {
		s.held = true
		s.holder = decode(slot, e.Revision(), e.Value())
	}
	v[slot] = s
}

// nextExpiry is the earliest until among held slots, if any expires.
func (v view) nextExpiry() (time.Time, bool) {
	var next time.Time
	for _, s := range v {
		if !s.held || s.holder.Invalid || s.holder.Until.IsZero() {
			continue
		}
		if next.IsZero() || s.holder.Until.Before(next) {
			next = s.holder.Until
		}
	}
	return next, !next.IsZero()
}

// readView loads the latest entry of each of keys (wildcards allowed) through a watcher's
// initial delivery, which, unlike Get, also gives a delete marker's revision.
func readView(ctx context.Context, kv jetstream.KeyValue, keys []string) (view, error) {
	w, err := kv.WatchFiltered(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read lock slots: %w", err)
	}
	defer func() { _ = w.Stop() }()
	v := view{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read lock slots: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("read lock slots: watcher closed")
			}
			if e == nil {
				return v, nil
			}
			v.apply(e)
		}
	}
}

func encode(h Holder) ([]byte, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode lock value for %s: %w", h.Node, err)
	}
	return b, nil
}

// decode never fails: a value that is not a lock value marks the slot Invalid (held, never
// expiring), so garbage in the bucket blocks rather than lets two nodes in.
func decode(slot int, rev uint64, b []byte) Holder {
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil || h.Node == "" {
		h = Holder{Invalid: true}
	}
	h.Slot, h.Revision = slot, rev
	return h
}

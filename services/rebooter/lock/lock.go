// Package lock is the rebooter's distributed reboot lock: at most Slots nodes hold it at once,
// one JetStream KV key per slot ("slot.0" .. "slot.N-1") in the NW_REBOOT_LOCK bucket. A slot is
// taken only by an atomic create (free slot) or a compare-and-set on the revision read (expired
// holder, or the node re-finding its own slot after a restart), never by read-then-put. Expiry
// lives in the value ("until"; zero never expires, kured's --lock-ttl 0) because JetStream KV
// keeps no per-key TTL across updates. Waiters watch the slot keys, so a release is seen at once.
package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeyPrefix starts every slot key.
const KeyPrefix = "slot."

// ErrNotHeld is returned by Renew and Release when the slot is no longer held with the given
// revision: it expired and another node took it over, or it was force-released.
var ErrNotHeld = errors.New("lock slot no longer held by this node")

// Key is the KV key of a slot.
func Key(slot int) string { return KeyPrefix + strconv.Itoa(slot) }

// Holder is one slot's value: which node holds it, for which request, since and until when.
// Slot and Revision come from the KV entry, not the value. A Holder returned by Acquire or Renew
// is the caller's proof of holding, passed back to Renew and Release.
type Holder struct {
	Slot      int       `json:"-"`
	Revision  uint64    `json:"-"`
	Node      string    `json:"node"`
	RequestID string    `json:"request_id,omitempty"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until,omitzero"` // zero: never expires
	// Invalid is set when the stored value could not be decoded; such a slot counts as held and
	// never expires (fail safe) until force-released.
	Invalid bool `json:"-"`
}

// Expired says whether the holding has run out at now. A zero Until never expires.
func (h Holder) Expired(now time.Time) bool {
	return !h.Invalid && !h.Until.IsZero() && !now.Before(h.Until)
}

// Options configure a node's Lock.
type Options struct {
	Node  string        // this node's name, written into the value
	Slots int           // --concurrency: how many nodes may hold the lock at once (>= 1)
	TTL   time.Duration // --lock-ttl: a holding not renewed within TTL may be taken over; 0 never
	Now   func() time.Time
}

// Lock is one node's handle on the reboot lock.
type Lock struct {
	kv    jetstream.KeyValue
	node  string
	slots int
	ttl   time.Duration
	now   func() time.Time
	keys  []string
	first int // slot tried first, spread by node so contenders do not all start on slot 0
}

// New returns the node's handle on the lock in kv.
func New(kv jetstream.KeyValue, o Options) (*Lock, error) {
	switch {
	case kv == nil:
		return nil, errors.New("lock: no KV bucket")
	case o.Node == "":
		return nil, errors.New("lock: node name is empty")
	case o.Slots < 1:
		return nil, fmt.Errorf("lock: slots %d, want at least 1", o.Slots)
	case o.TTL < 0:
		return nil, fmt.Errorf("lock: ttl %s is negative (0 means never expires)", o.TTL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Lock{kv: kv, node: o.Node, slots: o.Slots, ttl: o.TTL, now: o.Now}
	h := 0
	for i := 0; i < len(o.Node); i++ {
		h = (h*31 + int(o.Node[i])) & 0x7fffffff
	}
	l.first = h % o.Slots
	for i := range o.Slots {
		l.keys = append(l.keys, Key(i))
	}
	return l, nil
}

// Acquire blocks until this node holds a slot or ctx ends. A node that already holds a slot
// (it restarted while holding) gets that slot back, with the new request id and a fresh until.
// It watches the slot keys, so it wakes on every release, and sets a timer for the earliest
// expiry it sees. An error from the bus ends the wait; the caller retries.
func (l *Lock) Acquire(ctx context.Context, requestID string) (Holder, error) {
	// WatchFiltered rewrites the slice it is given (nats.go v1.55), so it gets a copy.
	w, err := l.kv.WatchFiltered(ctx, slices.Clone(l.keys))
	if err != nil {
		return Holder{}, fmt.Errorf("watch lock slots: %w", err)
	}
	defer func() { _ = w.Stop() }()
	v := view{}
	ready := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return Holder{}, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return Holder{}, ctx.Err()
				}
				return Holder{}, errors.New("watch lock slots: watcher closed")
			}
			if e == nil {
				ready = true // initial values delivered
			} else {
				v.apply(e)
			}
			if !ready {
				continue
			}
		case <-timer.C:
		}
		h, ok, err := l.attempt(ctx, requestID, v)
		if err != nil || ok {
			return h, err
		}
		if next, ok := v.nextExpiry(); ok {
			// A little past until, so the holder's own clock has also passed it.
			timer.Reset(max(next.Sub(l.now()), 0) + 10*time.Millisecond)
		}
	}
}

// TryAcquire takes a slot if one is free, expired or already this node's, without waiting.
func (l *Lock) TryAcquire(ctx context.Context, requestID string) (Holder, bool, error) {
	v, err := readView(ctx, l.kv, slices.Clone(l.keys))
	if err != nil {
		return Holder{}, false, err
	}
	return l.attempt(ctx, requestID, v)
}

// attempt tries once to take a slot according to the view. A lost compare-and-set is not an
// error: the view was stale, and the watcher will deliver the change that beat us.
func (l *Lock) attempt(ctx context.Context, requestID string, v view) (Holder, bool, error) {
	now := l.now()
	for i := range l.slots {
		if s, ok := v[i]; ok && s.held && s.holder.Node == l.node && !s.holder.Invalid {
			// Re-find our own slot after a restart; the CAS proves it is still ours.
			h := l.value(i, requestID, s.holder.Since, now)
			return l.put(ctx, h, s.rev, false)
		}
	}
	for n := range l.slots {
		i := (l.first + n) % l.slots
		s, known := v[i]
		h := l.value(i, requestID, now, now)
		var (
			got bool
			err error
		)
		switch {
		case !known:
			h, got, err = l.put(ctx, h, 0, true)
		case !s.held: // delete marker: CAS on its revision, one round trip
			h, got, err = l.put(ctx, h, s.rev, false)
		case s.holder.Expired(now):
			h, got, err = l.put(ctx, h, s.rev, false)
		default:
			continue
		}
		if err != nil || got {
			return h, got, err
		}
	}
	return Holder{}, false, nil
}

func (l *Lock) value(slot int, requestID string, since, now time.Time) Holder {
	h := Holder{Slot: slot, Node: l.node, RequestID: requestID, Since: since.UTC()}
	if l.ttl > 0 {
		h.Until = now.Add(l.ttl).UTC()
	}
	return h
}

// put writes h to its slot by create (rev 0, create) or compare-and-set on rev; false, nil
// means another writer got there first.
func (l *Lock) put(ctx context.Context, h Holder, rev uint64, create bool) (Holder, bool, error) {
	b, err := encode(h)
	if err != nil {
		return Holder{}, false, err
	}
	key := Key(h.Slot)
	var got uint64
	if create {
		got, err = l.kv.Create(ctx, key, b)
	} else {
		got, err = l.kv.Update(ctx, key, b, rev)
	}
	if isConflict(err) {
		return Holder{}, false, nil
	}
	if err != nil {
		return Holder{}, false, fmt.Errorf("take lock %s: %w", key, err)
	}
	h.Revision = got
	return h, true, nil
}

// Renew extends a holding's until by TTL from now (kept zero with TTL 0), by compare-and-set on
// the holding's revision; ErrNotHeld if it was taken over or cleared meanwhile.
func (l *Lock) Renew(ctx context.Context, h Holder) (Holder, error) {
	if h.Node != l.node {
		return Holder{}, fmt.Errorf("renew %s: held by %q, not %q: %w", Key(h.Slot), h.Node, l.node, ErrNotHeld)
	}
	n := l.value(h.Slot, h.RequestID, h.Since, l.now())
	n, ok, err := l.put(ctx, n, h.Revision, false)
	if err != nil {
		return Holder{}, err
	}
	if !ok {
		return Holder{}, fmt.Errorf("renew %s at revision %d: %w", Key(h.Slot), h.Revision, ErrNotHeld)
	}
	return n, nil
}

// Release frees the holding's slot, deleting it only at the holding's revision so a slot taken
// over by another node is never freed by the old holder; ErrNotHeld in that case.
func (l *Lock) Release(ctx context.Context, h Holder) error {
	if h.Node != l.node {
		return fmt.Errorf("release %s: held by %q, not %q: %w", Key(h.Slot), h.Node, l.node, ErrNotHeld)
	}
	return deleteAt(ctx, l.kv, h)
}

func deleteAt(ctx context.Context, kv jetstream.KeyValue, h Holder) error {
	err := kv.Delete(ctx, Key(h.Slot), jetstream.LastRevision(h.Revision))
	if isConflict(err) {
		return fmt.Errorf("release %s at revision %d: %w", Key(h.Slot), h.Revision, ErrNotHeld)
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", Key(h.Slot), err)
	}
	return nil
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// slotOf parses "slot.N"; ok is false for keys that are not slots.
func slotOf(key string) (int, bool) {
	s, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

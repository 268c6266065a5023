// Package requests keeps a node's pending reboot in the NW_REBOOT_REQUESTS KV bucket, one key
// per node, so the rebooter acks a RebootRequired as soon as it is recorded and then works from
// the record: waiting hours for a window, an alert or the lock holds no unacked message, and a
// restarted rebooter picks the work up where it was (including whether it cordoned the node).
// Requests for the same node and boot merge into one; a request for a boot older than the
// node's current one (it rebooted since) is already done.
package requests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// Record is a node's pending reboot.
type Record struct {
	Node string `json:"node"`
	// RequestIDs are every request merged into this reboot, the first one first.
	RequestIDs []string  `json:"request_ids"`
	Reason     string    `json:"reason"`
	Origin     string    `json:"origin,omitempty"`
	BootID     string    `json:"boot_id,omitempty"` // the boot the reboot must end; "" = the current one when recorded
	Received   time.Time `json:"received"`
	// Progress, so a restart resumes (and uncordons what it cordoned).
	Phase     string    `json:"phase,omitempty"`
	Cordoned  bool      `json:"cordoned,omitempty"`
	RebootAt  time.Time `json:"reboot_at,omitzero"`  // when the reboot command was run
	NotBefore time.Time `json:"not_before,omitzero"` // after a failed attempt: when to try again
	Condition string    `json:"condition,omitempty"`
}

// ID is the record's first request id.
func (r Record) ID() string {
	if len(r.RequestIDs) == 0 {
		return ""
	}
	return r.RequestIDs[0]
}

// ErrCompleting is Add's answer while the node's previous reboot is still being completed: the
// caller retries the request later.
var ErrCompleting = errors.New("the previous reboot of this node is still completing")

// Outcome says what Add did with a request.
type Outcome int

// Outcomes of Add.
const (
	Recorded Outcome = iota // a new pending reboot
	Merged                  // joined the pending reboot of the same boot
	Stale                   // for a boot that already ended: nothing to do
)

func (o Outcome) String() string {
	return [...]string{"recorded", "merged", "stale"}[o]
}

// Store is one node's record.
type Store struct {
	kv  jetstream.KeyValue
	key string
}

// New returns the store of node's record.
func New(kv jetstream.KeyValue, node string) (*Store, error) {
	key, err := subject.Encode(node)
	if err != nil {
		return nil, fmt.Errorf("reboot request key: %w", err)
	}
	return &Store{kv: kv, key: key}, nil
}

// Get returns the pending record and its revision; ok is false when there is none.
func (s *Store) Get(ctx context.Context) (rec Record, rev uint64, ok bool, err error) {
	e, err := s.kv.Get(ctx, s.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, 0, false, nil
	}
	if err != nil {
		return Record{}, 0, false, fmt.Errorf("get reboot request: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return Record{}, e.Revision(), false, fmt.Errorf("reboot request %s: %w", s.key, err)
	}
	return rec, e.Revision(), true, nil
}

// Add records a request, merging it into a pending reboot of the same boot. currentBoot is the
// node's boot id now.
func (s *Store) Add(ctx context.Context, r *nwv1.RebootRequired, currentBoot string, now time.Time) (Outcome, Record, error) {
	if r.BootId != "" && currentBoot != "" && r.BootId != currentBoot {
		return Stale, Record{}, nil // asked in a boot that has ended: the node rebooted since
	}
	for attempt := 0; attempt < 10; attempt++ {
		cur, rev, ok, err := s.Get(ctx)
		if err != nil {
			return 0, Record{}, err
		}
		if ok && cur.BootID != "" && currentBoot != "" && cur.BootID != currentBoot {
			// The pending reboot happened and is being completed; this request belongs to the
			// new boot and must not be merged into (and cleared with) the old one.
			return 0, Record{}, fmt.Errorf("reboot request %s: %w", r.RequestId, ErrCompleting)
		}
		if ok {
			for _, id := range cur.RequestIDs {
				if id == r.RequestId {
					return Merged, cur, nil // a redelivery
				}
			}
			cur.RequestIDs = append(cur.RequestIDs, r.RequestId)
			if _, err := s.put(ctx, cur, rev); errors.Is(err, jetstream.ErrKeyExists) {
				continue
			} else if err != nil {
				return 0, Record{}, err
			}
			return Merged, cur, nil
		}
		boot := r.BootId
		if boot == "" {
			boot = currentBoot
		}
		rec := Record{Node: r.Node, RequestIDs: []string{r.RequestId}, Reason: r.Reason, Origin: r.Origin, BootID: boot,
			Received: now.UTC(), Condition: r.GetCondition()}
		if _, err := s.put(ctx, rec, 0); errors.Is(err, jetstream.ErrKeyExists) {
			continue
		} else if err != nil {
			return 0, Record{}, err
		}
		return Recorded, rec, nil
	}
	return 0, Record{}, fmt.Errorf("reboot request %s: too many concurrent writers", s.key)
}

// Update writes the record's progress if it is unchanged since rev.
func (s *Store) Update(ctx context.Context, rec Record, rev uint64) (uint64, error) {
	return s.put(ctx, rec, rev)
}

func (s *Store) put(ctx context.Context, rec Record, rev uint64) (uint64, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		return s.kv.Create(ctx, s.key, b)
	}
	return s.kv.Update(ctx, s.key, b, rev)
}

// Clear removes the record at revision rev once the reboot completed; a record changed since
// (a request merged meanwhile) is left for the caller to look at again (ErrKeyExists).
func (s *Store) Clear(ctx context.Context, rev uint64) error {
	if err := s.kv.Delete(ctx, s.key, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("clear reboot request: %w", err)
	}
	return nil
}

// Package conditions is the NW_CONDITIONS KV bucket's schema and access: one key per node and
// condition ("<node token>.<condition token>") holding the condition's current state as JSON.
// The detector writes it with compare-and-set so a restart or a partition handover never
// repeats a condition change; the alerter re-sends alerts from it, and `nodewarden status` lists
// it, like the Conditions block of `kubectl describe node` for every node at once.
package conditions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// Statuses, as Kubernetes spells them.
const (
	True  = "True"
	False = "False"
)

// State is one condition of one node.
type State struct {
	Node      string    `json:"node"`
	Type      string    `json:"type"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message"`
	Source    string    `json:"source"`             // NPD source ("kernel-monitor") or "health", "threshold"
	Severity  string    `json:"severity,omitempty"` // info, warning, critical
	Since     time.Time `json:"since"`              // last transition
	Updated   time.Time `json:"updated"`            // last write
	BootID    string    `json:"boot_id,omitempty"`  // the node's boot when it last became True
	ProblemID string    `json:"problem_id,omitempty"`
	// Reboot marks a True condition whose rule asked for a reboot.
	Reboot bool `json:"reboot,omitempty"`
	// ClearAt is when a True condition whose rule has clearAfter goes back to False, unless
	// another matching line comes first.
	ClearAt time.Time `json:"clear_at,omitzero"`
}

// ErrNotFound is returned by Get for a condition never written.
var ErrNotFound = errors.New("condition not found")

// ErrConflict is returned by Put when the entry changed since it was read.
var ErrConflict = errors.New("condition changed concurrently")

// Key is the KV key of a node's condition.
func Key(node, typ string) (string, error) {
	n, err := subject.Encode(node)
	if err != nil {
		return "", fmt.Errorf("condition key: node %q: %w", node, err)
	}
	t, err := subject.Encode(typ)
	if err != nil {
		return "", fmt.Errorf("condition key: type %q: %w", typ, err)
	}
	return n + "." + t, nil
}

// Store reads and writes the bucket.
type Store struct{ kv jetstream.KeyValue }

// Open returns the store of the provisioned bucket.
func Open(ctx context.Context, js jetstream.JetStream, bucket string) (*Store, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	return &Store{kv: kv}, nil
}

// New wraps a bucket.
func New(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Get returns a condition and the revision to pass to Put.
func (s *Store) Get(ctx context.Context, node, typ string) (State, uint64, error) {
	key, err := Key(node, typ)
	if err != nil {
		return State{}, 0, err
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return State{}, 0, ErrNotFound
	}
	if err != nil {
		return State{}, 0, fmt.Errorf("get condition %s: %w", key, err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return State{}, e.Revision(), fmt.Errorf("condition %s: %w", key, err)
	}
	return st, e.Revision(), nil
}

// Put writes a condition if it is unchanged since revision rev was read (0: only if absent)
// and returns the new revision; ErrConflict when another writer came first.
func (s *Store) Put(ctx context.Context, st State, rev uint64) (uint64, error) {
	key, err := Key(st.Node, st.Type)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		rev, err = s.kv.Create(ctx, key, b)
	} else {
		rev, err = s.kv.Update(ctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("put condition %s: %w", key, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("put condition %s: %w", key, err)
	}
	return rev, nil
}

// List returns every condition, of one node when node is not empty, sorted by node and type.
func (s *Store) List(ctx context.Context, node string) ([]State, error) {
	filter := ">"
	if node != "" {
		tok, err := subject.Encode(node)
		if err != nil {
			return nil, fmt.Errorf("list conditions: node %q: %w", node, err)
		}
		filter = tok + ".*"
	}
	lister, err := s.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list conditions: %w", err)
	}
	var out []State
	for k := range lister.Keys() {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get condition %s: %w", k, err)
		}
		var st State
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return nil, fmt.Errorf("condition %s: %w", k, err)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return strings.Compare(out[i].Type, out[j].Type) < 0
	})
	return out, nil
}

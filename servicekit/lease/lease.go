// Package lease shares P partitions among a service's replicas through a KV bucket
// (NW_DETECTOR_PARTITIONS for the detector, NW_SINK_PARTITIONS for the sink's Prometheus output). Every replica heartbeats a member key; all replicas derive
// the same desired owner of each partition from the live members by rendezvous hashing (so a
// replica joining or leaving moves only its share), and a partition is held under a lease key
// taken with an atomic create, or a compare-and-set on the revision of an expired lease. A holder
// whose partition is desired elsewhere stops its work on it first and then deletes the lease,
// so the partition's input is never processed by two replicas at once; a holder that dies loses
// its leases when they expire. Expiry lives in the values, since JetStream KV has no per-key TTL
// across updates.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Worker runs one held partition until ctx ends; it must have stopped consuming when it returns.
type Worker func(ctx context.Context, partition int)

// Options configure a Manager.
type Options struct {
	// ID names this replica; it must be unique and a valid KV key token.
	ID string
	// Partitions is P.
	Partitions int
	// TTL is how long a lease or membership lasts without renewal (15s); renewals run every TTL/3.
	TTL time.Duration
	// Now is the clock (time.Now); leases compare times written by different replicas, so their
	// clocks must agree to within a fraction of the TTL.
	Now    func() time.Time
	Logger *slog.Logger
}

type record struct {
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
}

type held struct {
	rev    uint64
	since  time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

// Manager holds this replica's share of the partitions.
type Manager struct {
	kv   jetstream.KeyValue
	opts Options
	log  *slog.Logger

	mu   sync.Mutex
	held map[int]*held
}

// New returns a Manager; Run takes partitions.
func New(kv jetstream.KeyValue, opts Options) (*Manager, error) {
	if opts.ID == "" || strings.ContainsAny(opts.ID, ". *>") {
		return nil, fmt.Errorf("lease: replica id %q must be a non-empty KV key token", opts.ID)
	}
	if opts.Partitions < 1 {
		return nil, fmt.Errorf("lease: %d partitions", opts.Partitions)
	}
	if opts.TTL <= 0 {
		opts.TTL = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Manager{kv: kv, opts: opts, log: opts.Logger.With("replica", opts.ID), held: map[int]*held{}}, nil
}

func partKey(p int) string       { return "p." + strconv.Itoa(p) }
func memberKey(id string) string { return "m." + id }

// Held returns the partitions held now, sorted.
func (m *Manager) Held() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int, 0, len(m.held))
	for p := range m.held {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// Run balances until ctx ends, starting work on each partition it takes; on return every
// worker has stopped, and the leases and membership are released so others take over at once.
func (m *Manager) Run(ctx context.Context, work Worker) error {
	t := time.NewTicker(m.opts.TTL / 3)
	defer t.Stop()
	defer m.leave()
	for {
		if err := m.round(ctx, work); err != nil && ctx.Err() == nil {
			m.log.Warn("partition balancing failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// round heartbeats, renews what it holds, gives up what is desired elsewhere and takes what is
// desired here.
func (m *Manager) round(ctx context.Context, work Worker) error {
	now := m.opts.Now()
	if err := m.put(ctx, memberKey(m.opts.ID), record{Holder: m.opts.ID, Since: now, Until: now.Add(m.opts.TTL)}); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	members, err := m.members(ctx, now)
	if err != nil {
		return err
	}
	for p := 0; p < m.opts.Partitions; p++ {
		mine := Owner(members, p) == m.opts.ID
		m.mu.Lock()
		h := m.held[p]
		m.mu.Unlock()
		switch {
		case h != nil && !mine:
			m.release(ctx, p, h)
		case h != nil:
			m.renew(ctx, p, h, now)
		case mine:
			m.take(ctx, p, now, work)
		}
	}
	return nil
}

func (m *Manager) put(ctx context.Context, key string, r record) error {
	b, _ := json.Marshal(r)
	_, err := m.kv.Put(ctx, key, b)
	return err
}

// members are the replicas whose membership has not expired, this one included.
func (m *Manager) members(ctx context.Context, now time.Time) ([]string, error) {
	lister, err := m.kv.ListKeysFiltered(ctx, "m.*")
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	var out []string
	for k := range lister.Keys() {
		e, err := m.kv.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		var r record
		if json.Unmarshal(e.Value(), &r) == nil && r.Until.After(now) {
			out = append(out, strings.TrimPrefix(k, "m."))
		}
	}
	if !contains(out, m.opts.ID) {
		out = append(out, m.opts.ID)
	}
	sort.Strings(out)
	return out, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Owner is the member desired to hold partition p: the highest rendezvous hash of member and
// partition, so a change of membership moves only the partitions of the member that came or
// went.
func Owner(members []string, p int) string {
	var best string
	var bestScore uint64
	for _, id := range members {
		h := fnv.New64a()
		h.Write([]byte(id))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(p)))
		// fnv alone clusters similar keys; a final mix spreads them.
		s := mix(h.Sum64())
		if best == "" || s > bestScore {
			best, bestScore = id, s
		}
	}
	return best
}

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// take acquires p if it is free or its lease expired, and starts its worker.
func (m *Manager) take(ctx context.Context, p int, now time.Time, work Worker) {
	rec := record{Holder: m.opts.ID, Since: now, Until: now.Add(m.opts.TTL)}
	b, _ := json.Marshal(rec)
	rev, err := m.kv.Create(ctx, partKey(p), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := m.kv.Get(ctx, partKey(p))
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			return // released meanwhile: next round
		case gerr != nil:
			return
		}
		var cur record
		if json.Unmarshal(e.Value(), &cur) == nil && cur.Until.After(now) && cur.Holder != m.opts.ID {
			return // held by a live replica that will release it when it sees the new membership
		}
		rev, err = m.kv.Update(ctx, partKey(p), b, e.Revision())
	}
	if err != nil {
		return // another replica won the race, or the bucket is unreachable: next round
	}
	wctx, cancel := context.WithCancel(ctx)
	h := &held{rev: rev, since: now, cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	m.held[p] = h
	m.mu.Unlock()
	m.log.Info("partition taken", "partition", p)
	go func() {
		defer close(h.done)
		work(wctx, p)
	}()
}

// renew extends a held lease; a lease lost to another replica (we were too slow and it expired)
// stops the worker at once.
func (m *Manager) renew(ctx context.Context, p int, h *held, now time.Time) {
	b, _ := json.Marshal(record{Holder: m.opts.ID, Since: h.since, Until: now.Add(m.opts.TTL)})
	rev, err := m.kv.Update(ctx, partKey(p), b, h.rev)
	if err == nil {
		h.rev = rev
		return
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
		m.log.Warn("partition lease lost", "partition", p, "err", err)
		m.stop(p, h)
	}
}

// release stops p's worker, then deletes the lease so its desired owner takes it.
func (m *Manager) release(ctx context.Context, p int, h *held) {
	m.stop(p, h)
	if err := m.kv.Delete(ctx, partKey(p), jetstream.LastRevision(h.rev)); err != nil {
		m.log.Debug("lease not deleted; it expires", "partition", p, "err", err)
	}
	m.log.Info("partition released", "partition", p)
}

func (m *Manager) stop(p int, h *held) {
	h.cancel()
	<-h.done
	m.mu.Lock()
	delete(m.held, p)
	m.mu.Unlock()
}

// leave stops every worker and deletes the leases and the membership, with a fresh context: the
// run's own has ended.
func (m *Manager) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.mu.Lock()
	all := make(map[int]*held, len(m.held))
	for p, h := range m.held {
		all[p] = h
	}
	m.mu.Unlock()
	for p, h := range all {
		m.release(ctx, p, h)
	}
	_ = m.kv.Delete(ctx, memberKey(m.opts.ID))
}

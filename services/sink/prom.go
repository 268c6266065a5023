package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/sink/promexp"
)

// promFeed keeps the Prometheus store filled with the nodes of the partitions this replica
// holds, so that with several replicas every node's series is exposed by exactly one. It needs
// only the latest state, so it reads with ordered (ephemeral) consumers rather than durable
// ones: on start, and whenever it gains a partition, the last sample of every subject, plus the
// conditions from NW_CONDITIONS; then every new message.
type promFeed struct {
	js         jetstream.JetStream
	sp         subject.Space
	store      *promexp.Store
	conds      *conditions.Store
	partitions int
	log        *slog.Logger
	observed   prometheus.Counter
	skipped    prometheus.Counter

	// gate orders applying a message against giving its partition up: apply holds it shared
	// from the ownership check to the store update, hold exclusively while it forgets, so a
	// message in flight cannot bring back a node another replica now exposes.
	gate    sync.RWMutex
	mu      sync.Mutex
	held    map[int]bool
	nodes   map[int]map[string]bool // partition → nodes observed
	restart chan struct{}
}

func newPromFeed(js jetstream.JetStream, sp subject.Space, store *promexp.Store, conds *conditions.Store, partitions int,
	log *slog.Logger, reg prometheus.Registerer) *promFeed {
	f := &promFeed{js: js, sp: sp, store: store, conds: conds, partitions: partitions, log: log,
		held: map[int]bool{}, nodes: map[int]map[string]bool{}, restart: make(chan struct{}, 1),
		observed: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_sink_prometheus_observed_total",
			Help: "Messages applied to the Prometheus exposition (nodes of the partitions this replica holds)."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_sink_prometheus_undecodable_total",
			Help: "Messages the Prometheus output could not decode and skipped (the durable outputs dead-letter them)."}),
	}
	reg.MustRegister(f.observed, f.skipped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nodewarden_sink_partitions_held",
			Help: "Partitions whose nodes this replica exposes on /metrics."}, func() float64 {
			f.mu.Lock()
			defer f.mu.Unlock()
			return float64(len(f.held))
		}))
	return f
}

// hold is the lease worker: the partition is this replica's until ctx ends; then its nodes'
// series go, since another replica now exposes them.
func (f *promFeed) hold(ctx context.Context, p int) {
	f.mu.Lock()
	f.held[p] = true
	f.mu.Unlock()
	select {
	case f.restart <- struct{}{}: // re-read the latest of every subject for the new nodes
	default:
	}
	<-ctx.Done()
	f.gate.Lock()
	defer f.gate.Unlock()
	f.mu.Lock()
	delete(f.held, p)
	gone := f.nodes[p]
	delete(f.nodes, p)
	f.mu.Unlock()
	for n := range gone {
		f.store.Forget(n)
	}
}

// run reads until ctx ends. The samples (the latest of every subject) and the conditions are
// read again from the start whenever a partition is gained, since the new nodes' state is
// there; problems are counted from one reader that keeps going, so none published while a
// partition moves is missed by a replica that already holds it.
func (f *promFeed) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		f.loop(ctx, nil, func(rctx context.Context) error {
			return f.consume(rctx, topology.StreamEvents, jetstream.DeliverNewPolicy, f.sp.All("problem"))
		})
	})
	f.loop(ctx, f.restart, func(rctx context.Context) error {
		go func() {
			if err := f.loadConditions(rctx); err != nil && rctx.Err() == nil {
				f.log.Warn("prometheus output: read conditions", "err", err)
			}
		}()
		return f.consume(rctx, topology.StreamSamples, jetstream.DeliverLastPerSubjectPolicy, f.sp.All("sample"), f.sp.All("health"))
	})
	wg.Wait()
}

// loop runs read until ctx ends, again after it fails (with backoff) and, from the start, on
// every signal of restart (nil: never).
func (f *promFeed) loop(ctx context.Context, restart <-chan struct{}, read func(context.Context) error) {
	for attempt := 0; ctx.Err() == nil; {
		rctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- read(rctx) }()
		var err error
		select {
		case <-ctx.Done():
		case <-restart:
			attempt = 0
		case err = <-errc:
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			wait := backoff.Duration(attempt, 200*time.Millisecond, 10*time.Second)
			attempt++
			f.log.Warn("prometheus output: feed interrupted; starting over", "err", err, "in", wait)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

// consume applies every message of the stream's subjects whose node this replica holds.
func (f *promFeed) consume(ctx context.Context, stream string, policy jetstream.DeliverPolicy, filters ...string) error {
	c, err := f.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: policy})
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) { f.apply(m.Subject(), m.Data()) })
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	defer cc.Stop()
	<-ctx.Done()
	return nil
}

// apply looks at the node in the subject first, so other replicas' nodes cost no decoding.
func (f *promFeed) apply(subj string, data []byte) {
	tok := subj[strings.LastIndexByte(subj, '.')+1:]
	node, err := subject.Decode(tok)
	if err != nil {
		f.skipped.Inc()
		return
	}
	p := promexp.PartitionOf(node, f.partitions)
	f.gate.RLock()
	defer f.gate.RUnlock()
	if !f.heldPartition(p) {
		return
	}
	m, err := schema.Decode(f.sp, subj, data)
	if err != nil {
		f.skipped.Inc()
		return
	}
	if err := f.store.Observe(m, time.Now()); err != nil {
		f.skipped.Inc()
		return
	}
	f.observed.Inc()
	f.remember(node, p)
}

// remember notes that node's series are exposed, so that losing p forgets them.
func (f *promFeed) remember(node string, p int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.held[p] {
		return
	}
	if f.nodes[p] == nil {
		f.nodes[p] = map[string]bool{}
	}
	f.nodes[p][node] = true
}

// loadConditions applies the current conditions of the held nodes as condition problems with
// the id of the change that set them, so the gauge is right from the start and the change,
// when it also arrives from EVENTS, is not counted twice.
func (f *promFeed) loadConditions(ctx context.Context) error {
	states, err := f.conds.List(ctx, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, st := range states {
		status := nwv1.ConditionStatus_CONDITION_STATUS_FALSE
		if st.Status == conditions.True {
			status = nwv1.ConditionStatus_CONDITION_STATUS_TRUE
		}
		id := st.ProblemID
		if id == "" {
			id = "cond-state:" + st.Node + ":" + st.Type + ":" + st.Since.String()
		}
		p := &nwv1.Problem{Node: st.Node, Time: timestamppb.New(st.Updated), Id: id, Source: st.Source,
			Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: st.Type, Status: status, Reason: st.Reason,
			Message: st.Message, TransitionTime: timestamppb.New(st.Since)}
		part := promexp.PartitionOf(st.Node, f.partitions)
		f.gate.RLock()
		if f.heldPartition(part) {
			if err := f.store.Observe(p, time.Now()); err != nil {
				errs = append(errs, err)
			} else {
				f.remember(st.Node, part)
			}
		}
		f.gate.RUnlock()
	}
	return errors.Join(errs...)
}

func (f *promFeed) heldPartition(p int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[p]
}

// Package kube is the alerter's Kubernetes exporter, NPD's k8s exporter for a whole cluster: it
// puts node conditions on the Node's status (a strategic merge patch of the status subresource,
// so the kubelet's own conditions stay), heartbeats every condition it set, and records
// temporary problems as core/v1 Events on the Node, counted and aggregated the way client-go's
// record package does. Calls go through a token bucket and are retried with backoff; what still
// fails is returned, so the caller can nak the message and try again.
package kube

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
)

// Condition is one node condition as the exporter puts it on the Node.
type Condition struct {
	Node    string
	Type    string // e.g. "KernelDeadlock"
	Status  string // "True", "False" or "Unknown"
	Reason  string
	Message string
	// Transition is when the status last changed: the condition's lastTransitionTime. Zero
	// keeps the time already set for the same status, else takes now.
	Transition time.Time
}

// Exporter writes conditions and events to the Kubernetes API. Its methods are safe for
// concurrent use; Run heartbeats the conditions until its context ends.
type Exporter struct {
	client  kubernetes.Interface
	opts    Options
	log     *slog.Logger
	metrics *metrics
	calls   limiter
	now     func() time.Time

	mu    sync.Mutex
	nodes map[string]*nodeState

	events eventRecorder
}

// nodeState is what the exporter set on one Node. Its lock is held across a patch, so patches
// of one Node go out in order and the last one carries the latest conditions.
type nodeState struct {
	mu         sync.Mutex
	conditions map[string]Condition
	due        time.Time // next heartbeat
	failures   int       // heartbeats failed in a row
}

// New returns an exporter writing through client. Zero options take the defaults; metrics go
// to reg when it is not nil.
func New(client kubernetes.Interface, opts Options, log *slog.Logger, reg prometheus.Registerer) *Exporter {
	opts = opts.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{
		client:  client,
		opts:    opts,
		log:     log,
		metrics: newMetrics(reg, log),
		calls:   limiter{bucket: flowcontrol.NewTokenBucketRateLimiter(float32(opts.QPS), opts.Burst), log: log},
		now:     time.Now,
		nodes:   map[string]*nodeState{},
	}
	e.events.correlator = record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{})
	e.events.seed = maphash.MakeSeed()
	return e
}

// SetCondition puts c on its Node, with the other conditions set on that Node before (all with
// lastHeartbeatTime now), and remembers it for the heartbeat. A False condition stays on the
// Node as False, and is heartbeated, as NPD does. The exporter keeps conditions in memory only:
// after a restart the caller sets them again (from NW_CONDITIONS). A failed patch is retried
// by the heartbeat loop too; the error says whether it is Retryable (a deleted Node, Forbidden
// are not).
func (e *Exporter) SetCondition(ctx context.Context, c Condition) error {
	if err := c.validate(); err != nil {
		return err
	}
	st := e.state(c.Node)
	st.mu.Lock()
	defer st.mu.Unlock()
	if c.Transition.IsZero() {
		c.Transition = e.now()
		if old, ok := st.conditions[c.Type]; ok && old.Status == c.Status {
			c.Transition = old.Transition
		}
	}
	st.conditions[c.Type] = c
	// The node's other conditions go along, as NPD sends them all: one patch refreshes every
	// heartbeat of the node, so the next heartbeat is a period away.
	err := e.patch(ctx, c.Node, st.sorted())
	if err != nil {
		// The heartbeat loop resyncs the node after a backoff, as NPD's resync does.
		st.failures++
		st.due = e.now().Add(backoff.Duration(st.failures-1, time.Second, e.opts.Heartbeat))
		e.metrics.errors.WithLabelValues("condition").Inc()
		return fmt.Errorf("set condition %s=%s on node %s: %w", c.Type, c.Status, c.Node, err)
	}
	st.failures = 0
	st.due = e.now().Add(e.opts.Heartbeat)
	e.metrics.conditionPatches.WithLabelValues("set").Inc()
	return nil
}

func (c Condition) validate() error {
	switch {
	case c.Node == "":
		return errors.New("condition without a node")
	case c.Type == "":
		return fmt.Errorf("condition on node %s without a type", c.Node)
	}
	switch corev1.ConditionStatus(c.Status) {
	case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
		return nil
	}
	return fmt.Errorf("condition %s on node %s: status %q, want True, False or Unknown", c.Type, c.Node, c.Status)
}

// state returns the node's state, creating it on first use.
func (e *Exporter) state(node string) *nodeState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.nodes[node]
	if !ok {
		st = &nodeState{conditions: map[string]Condition{}, due: e.now().Add(e.opts.Heartbeat)}
		e.nodes[node] = st
		e.metrics.nodes.Set(float64(len(e.nodes)))
	}
	return st
}

// patch sends the conditions of one node in one strategic merge patch of its status: the
// conditions list merges by type, so only these types change.
func (e *Exporter) patch(ctx context.Context, node string, conds []Condition) error {
	now := metav1.NewTime(e.now())
	// Every field is sent, empty ones too: an omitted reason or message would keep the old one.
	type patchCondition struct {
		Type               string      `json:"type"`
		Status             string      `json:"status"`
		LastHeartbeatTime  metav1.Time `json:"lastHeartbeatTime"`
		LastTransitionTime metav1.Time `json:"lastTransitionTime"`
		Reason             string      `json:"reason"`
		Message            string      `json:"message"`
	}
	var body struct {
		Status struct {
			Conditions []patchCondition `json:"conditions"`
		} `json:"status"`
	}
	for _, c := range conds {
		body.Status.Conditions = append(body.Status.Conditions, patchCondition{
			Type: c.Type, Status: c.Status, LastHeartbeatTime: now,
			LastTransitionTime: metav1.NewTime(c.Transition), Reason: c.Reason, Message: c.Message,
		})
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode node status patch: %w", err)
	}
	return e.calls.do(ctx, "patch status of node "+node, func(ctx context.Context) error {
		_, err := e.client.CoreV1().Nodes().PatchStatus(ctx, node, data)
		return err
	})
}

// Run heartbeats the conditions until ctx ends: every node's conditions are patched again once
// Heartbeat has passed since their last patch, in one patch per node. A node that is gone
// (NotFound) is forgotten; other failures are retried with backoff, sooner than a heartbeat.
func (e *Exporter) Run(ctx context.Context) error {
	// Nodes fall due at different times (when their conditions were first set), so a tick of a
	// tenth of the period spreads the patches instead of sending them all at once.
	tick := min(max(e.opts.Heartbeat/10, 50*time.Millisecond), 10*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			e.heartbeat(ctx)
		}
	}
}

// heartbeat patches every node that is due.
func (e *Exporter) heartbeat(ctx context.Context) {
	e.mu.Lock()
	names := slices.Sorted(maps.Keys(e.nodes))
	e.mu.Unlock()
	for _, node := range names {
		if ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		st := e.nodes[node]
		e.mu.Unlock()
		if st != nil {
			e.heartbeatNode(ctx, node, st)
		}
	}
}

func (e *Exporter) heartbeatNode(ctx context.Context, node string, st *nodeState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e.now().Before(st.due) || len(st.conditions) == 0 {
		return
	}
	err := e.patch(ctx, node, st.sorted())
	switch {
	case err == nil:
		st.failures = 0
		st.due = e.now().Add(e.opts.Heartbeat)
		e.metrics.conditionPatches.WithLabelValues("heartbeat").Inc()
	case apierrors.IsNotFound(err):
		e.log.Info("kube exporter: node is gone, no more heartbeats for it", "node", node)
		e.mu.Lock()
		if e.nodes[node] == st {
			delete(e.nodes, node)
		}
		e.metrics.nodes.Set(float64(len(e.nodes)))
		e.mu.Unlock()
	case ctx.Err() != nil:
	default:
		st.failures++
		st.due = e.now().Add(backoff.Duration(st.failures-1, time.Second, e.opts.Heartbeat))
		e.metrics.errors.WithLabelValues("heartbeat").Inc()
		e.log.Warn("kube exporter: heartbeat failed", "node", node, "failures", st.failures, "err", err)
	}
}

// sorted returns the node's conditions in a stable order (by type), for repeatable patches.
func (st *nodeState) sorted() []Condition {
	return slices.SortedFunc(maps.Values(st.conditions), func(a, b Condition) int {
		return cmp.Compare(a.Type, b.Type)
	})
}

package kube

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/record/util"
)

// EventNamespace is where Events about Nodes live: a cluster-scoped object's Events must be in
// "default" (NPD's --event-namespace default, and the kubelet's).
const EventNamespace = metav1.NamespaceDefault

// DefaultEventSource is the source component of an Event that names none.
const DefaultEventSource = "nodewarden"

// Event is a temporary problem to record as a Kubernetes Event on its Node.
type Event struct {
	Node    string
	Reason  string // UpperCamelCase, e.g. "OOMKilling"
	Message string
	Source  string // the NPD source, e.g. "kernel-monitor": the Event's source component
	// Severity "info" (or "normal") makes a Normal Event; anything else a Warning, as NPD's
	// temporary problems are.
	Severity string
	Time     time.Time // zero means now
}

// eventRecorder holds client-go record's correlator: the same filtering, aggregation and
// counting as an EventBroadcaster, but run in the caller's goroutine so a failed write comes
// back as an error (the broadcaster retries in the background and only logs).
type eventRecorder struct {
	correlator *record.EventCorrelator
	seed       maphash.Seed
	// Locks by node: correlating an Event and writing it must not interleave with another
	// Event of the same Node, whose correlation state (name, count) it shares.
	locks [64]sync.Mutex
}

func (r *eventRecorder) lock(node string) *sync.Mutex {
	return &r.locks[maphash.String(r.seed, node)%uint64(len(r.locks))]
}

// Event records ev on its Node as client-go's EventRecorder does: an Event in namespace
// default whose involvedObject is the Node, with the Node's name as UID (what `kubectl
// describe node` looks for besides the real UID); a repeat of the same reason and message
// patches the existing Event's count, and a Node flooded by one source is throttled by
// record's spam filter (burst 25, then one per 5 minutes), which drops the excess without
// error. It needs events create and patch.
func (e *Exporter) Event(ctx context.Context, ev Event) error {
	if ev.Node == "" {
		return errors.New("event without a node")
	}
	if ev.Reason == "" {
		return fmt.Errorf("event on node %s without a reason", ev.Node)
	}
	mu := e.events.lock(ev.Node)
	mu.Lock()
	defer mu.Unlock()

	result, err := e.events.correlator.EventCorrelate(e.makeEvent(ev))
	if err != nil {
		// Only building the count patch can fail; record logs it and goes on, and so do we.
		e.log.Warn("kube exporter: event correlation", "node", ev.Node, "reason", ev.Reason, "err", err)
	}
	if result.Skip {
		e.metrics.events.WithLabelValues("dropped").Inc()
		e.log.Debug("kube exporter: event dropped by the spam filter", "node", ev.Node, "reason", ev.Reason)
		return nil
	}
	written, action, err := e.writeEvent(ctx, result)
	if err != nil {
		e.metrics.errors.WithLabelValues("event").Inc()
		return fmt.Errorf("record event %s on node %s: %w", ev.Reason, ev.Node, err)
	}
	// The server's name and resourceVersion are what the next repeat patches.
	e.events.correlator.UpdateState(written)
	e.metrics.events.WithLabelValues(action).Inc()
	return nil
}

// makeEvent builds the Event as record's recorder does (makeEvent, generateEvent).
func (e *Exporter) makeEvent(ev Event) *corev1.Event {
	now := e.now()
	t := ev.Time
	if t.IsZero() {
		t = now
	}
	source := ev.Source
	if source == "" {
		source = DefaultEventSource
	}
	typ := corev1.EventTypeWarning
	if s := strings.ToLower(ev.Severity); s == "info" || s == "normal" {
		typ = corev1.EventTypeNormal
	}
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      util.GenerateEventName(ev.Node, now.UnixNano()),
			Namespace: EventNamespace,
		},
		// No namespace in the reference: a Node has none, and `kubectl describe node` and
		// `kubectl events --for node/<n>` select on it (and on apiVersion), which NPD's
		// namespaced reference misses.
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1",
			Kind:       "Node",
			Name:       ev.Node,
			UID:        types.UID(ev.Node),
		},
		Reason:              ev.Reason,
		Message:             ev.Message,
		FirstTimestamp:      metav1.NewTime(t),
		LastTimestamp:       metav1.NewTime(t),
		Count:               1,
		Type:                typ,
		Source:              corev1.EventSource{Component: source, Host: ev.Node},
		ReportingController: source,
		ReportingInstance:   ev.Node,
	}
}

// writeEvent creates the Event, or patches the count of the one it repeats, as record's
// recordEvent does: a repeat whose Event has expired meanwhile is created afresh.
func (e *Exporter) writeEvent(ctx context.Context, result *record.EventCorrelateResult) (*corev1.Event, string, error) {
	ev := result.Event
	events := e.client.CoreV1().Events(ev.Namespace)
	var written *corev1.Event
	if ev.Count > 1 {
		err := e.calls.do(ctx, "patch event "+ev.Name, func(ctx context.Context) error {
			var err error
			written, err = events.Patch(ctx, ev.Name, types.StrategicMergePatchType, result.Patch, metav1.PatchOptions{})
			return err
		})
		if err == nil {
			return written, "patched", nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, "", err
		}
	}
	fresh := ev.DeepCopy()
	fresh.ResourceVersion = ""
	err := e.calls.do(ctx, "create event "+ev.Name, func(ctx context.Context) error {
		var err error
		written, err = events.Create(ctx, fresh, metav1.CreateOptions{})
		// A retried create whose first attempt got through: the Event is there.
		if apierrors.IsAlreadyExists(err) {
			written, err = fresh, nil
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return written, "created", nil
}

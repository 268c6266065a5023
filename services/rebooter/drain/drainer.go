// Package drain takes one node out of service for a reboot and puts it back, through client-go
// and k8s.io/kubectl/pkg/drain: cordon (recording on the Node that the rebooter did it, so a
// restarted rebooter knows to uncordon and never uncordons a node an operator cordoned), drain
// by eviction so PodDisruptionBudgets hold, kured's PreferNoSchedule taint, pre/post reboot
// labels and reboot annotations, and the pod and node checks the rebooter waits on. Every call
// needs only the rebooter's RBAC: nodes get/list/watch/patch, pods get/list, pods/eviction
// create, daemonsets get. Node writes are patches guarded by the resourceVersion read, so a
// concurrent writer is never overwritten.
package drain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	kubedrain "k8s.io/kubectl/pkg/drain"
)

// Keys the rebooter writes on its Node.
const (
	// AnnotationCordonedBy is set, with value CordonedByRebooter, in the same patch that
	// cordons the node: its presence is the rebooter's record that the cordon is its own.
	AnnotationCordonedBy = "nodewarden.io/cordoned-by"
	// CordonedByRebooter is the value of AnnotationCordonedBy.
	CordonedByRebooter = "rebooter"
	// TaintKey is the PreferNoSchedule taint put on a node waiting to reboot (kured's
	// weave.works/kured-node-reboot).
	TaintKey = "nodewarden.io/reboot"
	// AnnotationRebootInProgress holds the RFC 3339 time the reboot began (kured's
	// weave.works/kured-reboot-in-progress).
	AnnotationRebootInProgress = "nodewarden.io/reboot-in-progress"
	// AnnotationMostRecentRebootNeeded holds the RFC 3339 time a reboot was last found
	// needed (kured's weave.works/kured-most-recent-reboot-needed).
	AnnotationMostRecentRebootNeeded = "nodewarden.io/most-recent-reboot-needed"
)

// defaultEvictRetryDelay is kubectl drain's pause after a refused (429) eviction.
const defaultEvictRetryDelay = 5 * time.Second

// ErrEvictionRefused marks a drain that failed while at least one eviction was refused with
// 429 Too Many Requests, the answer of a PodDisruptionBudget that allows no disruption.
var ErrEvictionRefused = errors.New("eviction refused by a disruption budget")

// Options shape a drain; they mirror kured's drain flags.
type Options struct {
	// Timeout bounds the whole drain (--drain-timeout); 0 waits for ever, as kured.
	Timeout time.Duration
	// GracePeriodSeconds is given to each evicted pod (--drain-grace-period): negative uses
	// the pod's own terminationGracePeriodSeconds (kured's default, -1), 0 kills at once.
	GracePeriodSeconds int
	// SkipWaitForDeleteTimeoutSeconds stops waiting for pods deleted longer ago than this
	// (--skip-wait-for-delete-timeout); 0 always waits.
	SkipWaitForDeleteTimeoutSeconds int
	// PodSelector limits the drain to pods matching this label selector
	// (--drain-pod-selector); empty drains them all.
	PodSelector string
	// Force also deletes pods that no controller manages; kured always does. Without it such
	// a pod fails the drain.
	Force bool
	// EvictRetryDelay is the pause after a refused eviction; 0 means kubectl's 5 s.
	EvictRetryDelay time.Duration
	// TaintKey is the PreferNoSchedule taint Taint adds (--prefer-no-schedule-taint); empty
	// means the package's TaintKey.
	TaintKey string
	// Logger receives drain progress; nil discards it.
	Logger *slog.Logger
}

// Drainer cordons, drains and restores one node. It holds no state of its own: what it did is
// recorded on the Node, so a new Drainer after a restart sees it. Safe for concurrent use.
type Drainer struct {
	client kubernetes.Interface
	node   string
	opts   Options
	log    *slog.Logger
}

// New returns a Drainer for node. It fails on an invalid PodSelector.
func New(client kubernetes.Interface, node string, opts Options) (*Drainer, error) {
	if node == "" {
		return nil, errors.New("drain: node name is empty")
	}
	if _, err := labels.Parse(opts.PodSelector); err != nil {
		return nil, fmt.Errorf("drain: parse pod selector %q: %w", opts.PodSelector, err)
	}
	if opts.TaintKey == "" {
		opts.TaintKey = TaintKey
	}
	if errs := validation.IsQualifiedName(opts.TaintKey); len(errs) > 0 {
		return nil, fmt.Errorf("drain: taint key %q: %s", opts.TaintKey, strings.Join(errs, "; "))
	}
	if opts.EvictRetryDelay <= 0 {
		opts.EvictRetryDelay = defaultEvictRetryDelay
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Drainer{client: client, node: node, opts: opts, log: log.With("node", node)}, nil
}

// Node returns the name of the node this Drainer acts on.
func (d *Drainer) Node() string { return d.node }

// Cordon marks the node unschedulable and records that the rebooter did so, in one patch.
// It reports whether the cordon is ours: false when the node was already cordoned by someone
// else, whose cordon is left alone (and so is never undone by Uncordon). Cordoning a node we
// already cordoned, e.g. after a restart, reports true.
func (d *Drainer) Cordon(ctx context.Context) (ours bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := d.get(ctx)
		if err != nil {
			return err
		}
		if node.Annotations[AnnotationCordonedBy] == CordonedByRebooter {
			ours = true
			if node.Spec.Unschedulable {
				return nil
			}
			// Our record outlived the cordon (someone uncordoned): cordon again below.
		} else if node.Spec.Unschedulable {
			ours = false
			return nil
		}
		ours = true
		return d.patch(ctx, node.ResourceVersion, map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{AnnotationCordonedBy: CordonedByRebooter}},
			"spec":     map[string]any{"unschedulable": true},
		})
	})
	if err != nil {
		return false, fmt.Errorf("cordon node %s: %w", d.node, err)
	}
	if ours {
		d.log.Info("cordoned node")
	} else {
		d.log.Info("node already cordoned by someone else; leaving their cordon")
	}
	return ours, nil
}

// Uncordon makes the node schedulable again and removes our record, only if the rebooter
// cordoned it; it reports whether it did. It is safe to call on every exit path and after a
// restart. A deleted node gives an error for which apierrors.IsNotFound is true.
func (d *Drainer) Uncordon(ctx context.Context) (done bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := d.get(ctx)
		if err != nil {
			return err
		}
		if node.Annotations[AnnotationCordonedBy] != CordonedByRebooter {
			done = false
			return nil
		}
		done = true
		return d.patch(ctx, node.ResourceVersion, map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{AnnotationCordonedBy: nil}},
			"spec":     map[string]any{"unschedulable": false},
		})
	})
	if err != nil {
		return false, fmt.Errorf("uncordon node %s: %w", d.node, err)
	}
	if done {
		d.log.Info("uncordoned node")
	}
	return done, nil
}

// CordonedByUs reports whether the node carries our cordon record.
func (d *Drainer) CordonedByUs(ctx context.Context) (bool, error) {
	node, err := d.get(ctx)
	if err != nil {
		return false, fmt.Errorf("read node %s: %w", d.node, err)
	}
	return node.Annotations[AnnotationCordonedBy] == CordonedByRebooter, nil
}

// Drain evicts the node's pods as `kubectl drain --ignore-daemonsets --delete-emptydir-data`
// does, honouring PodDisruptionBudgets, and waits until they are gone. It does not cordon:
// call Cordon first. The error wraps ErrEvictionRefused when a budget refused an eviction,
// with the API server's reason.
func (d *Drainer) Drain(ctx context.Context) error {
	rec := &evictionRecorder{}
	out := newLogWriter(d.log, slog.LevelInfo)
	errOut := newLogWriter(d.log, slog.LevelWarn)
	defer out.Flush()
	defer errOut.Flush()
	h := &kubedrain.Helper{
		Ctx:                             ctx,
		Client:                          recordEvictions(d.client, rec),
		Force:                           d.opts.Force,
		GracePeriodSeconds:              d.opts.GracePeriodSeconds,
		IgnoreAllDaemonSets:             true,
		DeleteEmptyDirData:              true,
		Timeout:                         d.opts.Timeout,
		PodSelector:                     d.opts.PodSelector,
		SkipWaitForDeleteTimeoutSeconds: d.opts.SkipWaitForDeleteTimeoutSeconds,
		EvictErrorRetryDelay:            d.opts.EvictRetryDelay,
		Out:                             out,
		ErrOut:                          errOut,
		OnPodDeletionOrEvictionFinished: func(pod *corev1.Pod, _ bool, err error) {
			if err == nil {
				d.log.Info("pod evicted", "pod", pod.Namespace+"/"+pod.Name)
			}
		},
	}
	start := time.Now()
	d.log.Info("draining node", "timeout", d.opts.Timeout, "pod_selector", d.opts.PodSelector)
	if err := kubedrain.RunNodeDrain(h, d.node); err != nil {
		if refusal := rec.lastRefusal(); refusal != nil {
			return fmt.Errorf("drain node %s: %w: %w (last refusal: %v)", d.node, ErrEvictionRefused, err, refusal)
		}
		return fmt.Errorf("drain node %s: %w", d.node, err)
	}
	d.log.Info("drained node", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// NodeExists reports whether the Node name exists, so the lock of a deleted node can be freed.
func (d *Drainer) NodeExists(ctx context.Context, name string) (bool, error) {
	_, err := d.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("read node %s: %w", name, err)
	}
}

package drain

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
)

// ParseLabels parses kured's --pre-reboot-node-labels / --post-reboot-node-labels values,
// each "key=value", checking keys and values as the API server would.
func ParseLabels(pairs []string) (map[string]string, error) {
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("node label %q: want key=value", p)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("node label %q: key: %s", p, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("node label %q: value: %s", p, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

// SetLabels sets the node's labels in set, leaving the others alone (kured's pre- and
// post-reboot labels).
func (d *Drainer) SetLabels(ctx context.Context, set map[string]string) error {
	if len(set) == 0 {
		return nil
	}
	m := make(map[string]any, len(set))
	for k, v := range set {
		m[k] = v
	}
	// A merge patch of map keys touches only those keys: no read or precondition needed.
	if err := d.patch(ctx, "", map[string]any{"metadata": map[string]any{"labels": m}}); err != nil {
		return fmt.Errorf("set labels on node %s: %w", d.node, err)
	}
	return nil
}

// RemoveLabels removes the node's labels with these keys; absent ones are ignored.
func (d *Drainer) RemoveLabels(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		m[k] = nil
	}
	if err := d.patch(ctx, "", map[string]any{"metadata": map[string]any{"labels": m}}); err != nil {
		return fmt.Errorf("remove labels from node %s: %w", d.node, err)
	}
	return nil
}

// AnnotateRebootNeeded records when a reboot was found needed (--annotate-nodes).
func (d *Drainer) AnnotateRebootNeeded(ctx context.Context, at time.Time) error {
	return d.annotate(ctx, map[string]any{AnnotationMostRecentRebootNeeded: at.UTC().Format(time.RFC3339)})
}

// AnnotateRebootInProgress records that the reboot began at (--annotate-nodes).
func (d *Drainer) AnnotateRebootInProgress(ctx context.Context, at time.Time) error {
	return d.annotate(ctx, map[string]any{AnnotationRebootInProgress: at.UTC().Format(time.RFC3339)})
}

// ClearRebootInProgress removes the reboot-in-progress annotation once the node is back.
func (d *Drainer) ClearRebootInProgress(ctx context.Context) error {
	return d.annotate(ctx, map[string]any{AnnotationRebootInProgress: nil})
}

func (d *Drainer) annotate(ctx context.Context, m map[string]any) error {
	if err := d.patch(ctx, "", map[string]any{"metadata": map[string]any{"annotations": m}}); err != nil {
		return fmt.Errorf("annotate node %s: %w", d.node, err)
	}
	return nil
}

// Taint adds the PreferNoSchedule taint Options.TaintKey, so the scheduler avoids a node that is
// waiting to reboot (--prefer-no-schedule-taint). Adding it twice is a no-op.
func (d *Drainer) Taint(ctx context.Context) error {
	if err := d.updateTaints(ctx, true); err != nil {
		return fmt.Errorf("taint node %s: %w", d.node, err)
	}
	return nil
}

// Untaint removes the taint Options.TaintKey; a node without it is left alone.
func (d *Drainer) Untaint(ctx context.Context) error {
	if err := d.updateTaints(ctx, false); err != nil {
		return fmt.Errorf("untaint node %s: %w", d.node, err)
	}
	return nil
}

// updateTaints rewrites the taint list, which a merge patch can only replace whole: the
// resourceVersion precondition makes a concurrent change (a kubelet's or an operator's taint)
// fail with a conflict and be retried on the fresh list rather than lost.
func (d *Drainer) updateTaints(ctx context.Context, present bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := d.get(ctx)
		if err != nil {
			return err
		}
		isOurs := func(t corev1.Taint) bool {
			return t.Key == d.opts.TaintKey && t.Effect == corev1.TaintEffectPreferNoSchedule
		}
		has := slices.ContainsFunc(node.Spec.Taints, isOurs)
		if has == present {
			return nil
		}
		taints := slices.DeleteFunc(slices.Clone(node.Spec.Taints), isOurs)
		if present {
			taints = append(taints, corev1.Taint{Key: d.opts.TaintKey, Effect: corev1.TaintEffectPreferNoSchedule})
		}
		return d.patch(ctx, node.ResourceVersion, map[string]any{"spec": map[string]any{"taints": taints}})
	})
}

func (d *Drainer) get(ctx context.Context) (*corev1.Node, error) {
	return d.client.CoreV1().Nodes().Get(ctx, d.node, metav1.GetOptions{})
}

// patch applies a JSON merge patch to the node; a non-empty resourceVersion makes it
// conditional on the node being unchanged since it was read (409 Conflict otherwise).
func (d *Drainer) patch(ctx context.Context, resourceVersion string, p map[string]any) error {
	if resourceVersion != "" {
		meta, _ := p["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			p["metadata"] = meta
		}
		meta["resourceVersion"] = resourceVersion
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	_, err = d.client.CoreV1().Nodes().Patch(ctx, d.node, types.MergePatchType, body, metav1.PatchOptions{})
	return err
}

package drain

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// BlockingPods returns, as "namespace/name", the pods on the node that match any of the label
// selectors and have not finished (--blocking-pod-selector, as kured: phases Succeeded, Failed
// and Unknown do not block). No selectors, no blocking pods.
func (d *Drainer) BlockingPods(ctx context.Context, selectors []string) ([]string, error) {
	if len(selectors) == 0 {
		return nil, nil
	}
	onNode := fields.AndSelectors(
		fields.OneTermEqualSelector("spec.nodeName", d.node),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodUnknown)),
	).String()
	seen := map[string]bool{}
	for _, s := range selectors {
		sel, err := labels.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("parse blocking pod selector %q: %w", s, err)
		}
		list, err := d.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			LabelSelector: sel.String(),
			FieldSelector: onNode,
		})
		if err != nil {
			return nil, fmt.Errorf("list pods on node %s matching %q: %w", d.node, s, err)
		}
		for _, p := range list.Items {
			seen[p.Namespace+"/"+p.Name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

package kube_test

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/alerter/kube"
)

const alerterNamespace = "nodewarden"

// newExporter returns an exporter on c with its own registry.
func newExporter(t *testing.T, c kubernetes.Interface, opts kube.Options) (*kube.Exporter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return kube.New(c, opts, slog.New(slog.NewTextHandler(t.Output(), nil)), reg), reg
}

func getNode(ctx context.Context, t *testing.T, k *testenv.Kube, name string) *corev1.Node {
	t.Helper()
	n, err := k.Client().CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node %s: %v", name, err)
	}
	return n
}

// condition returns the node's condition of type typ, failing the test when there is none.
func condition(t *testing.T, n *corev1.Node, typ string) corev1.NodeCondition {
	t.Helper()
	for _, c := range n.Status.Conditions {
		if string(c.Type) == typ {
			return c
		}
	}
	t.Fatalf("node %s has no condition %s: %+v", n.Name, typ, n.Status.Conditions)
	return corev1.NodeCondition{}
}

// requireReady checks that the kubelet's conditions survived the exporter's patches.
func requireReady(t *testing.T, n *corev1.Node) {
	t.Helper()
	if c := condition(t, n, string(corev1.NodeReady)); c.Status != corev1.ConditionTrue || c.Reason != "KubeletReady" {
		t.Errorf("node %s: Ready condition changed: %+v", n.Name, c)
	}
	condition(t, n, string(corev1.NodeMemoryPressure))
}

// nodeEvents lists the Events about a node the way `kubectl describe node` finds them: in every
// namespace, by involvedObject kind, name, empty namespace and the node name as UID.
func nodeEvents(ctx context.Context, t *testing.T, k *testenv.Kube, node string) []corev1.Event {
	t.Helper()
	name, ns, kind, uid := node, "", "Node", node
	sel := k.Client().CoreV1().Events("").GetFieldSelector(&name, &ns, &kind, &uid)
	l, err := k.Client().CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		t.Fatalf("list events of node %s: %v", node, err)
	}
	return l.Items
}

// counter returns the value of the counter name with label value lv in reg (0 when absent).
func counter(t *testing.T, reg *prometheus.Registry, name, lv string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == lv {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// gauge returns the value of the unlabelled gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

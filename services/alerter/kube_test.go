package alerter_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/alerter"
)

// TestKubernetesExporter: the running alerter, as its own RBAC identity, puts a condition on the
// Node (the kubelet's stay), clears it, and records a temporary problem as an Event that
// `kubectl describe node` shows.
func TestKubernetesExporter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	k := testenv.StartKube(t)
	k.Kubelet(t, node)
	c := k.ClientForRole(t, "kube/testdata/clusterrole.yaml", "nodewarden", "alerter")
	e := newEnv(t, func(cfg *alerter.Config) { cfg.KubeClient = c })
	e.start()
	ctx := context.Background()
	getCond := func(typ string) (corev1.NodeCondition, bool) {
		n, err := k.Client().CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return corev1.NodeCondition{}, false
		}
		for _, c := range n.Status.Conditions {
			if string(c.Type) == typ {
				return c, true
			}
		}
		return corev1.NodeCondition{}, false
	}
	e.set(node, "KernelDeadlock", "True", "DockerHung")
	testenv.WaitFor(t, 30*time.Second, "KernelDeadlock True on the Node", func() bool {
		c, ok := getCond("KernelDeadlock")
		return ok && c.Status == corev1.ConditionTrue && c.Reason == "DockerHung"
	})
	if r, ok := getCond(string(corev1.NodeReady)); !ok || r.Status != corev1.ConditionTrue {
		t.Errorf("the kubelet's Ready condition was lost: %+v", r)
	}
	e.set(node, "KernelDeadlock", "False", "DockerHung")
	testenv.WaitFor(t, 30*time.Second, "KernelDeadlock False on the Node", func() bool {
		c, ok := getCond("KernelDeadlock")
		return ok && c.Status == corev1.ConditionFalse
	})
	if _, ok := getCond(string(corev1.NodeReady)); !ok {
		t.Errorf("the kubelet's Ready condition was lost")
	}

	_, js := e.js.Connect(t)
	subj, _ := subject.Space{}.Problem(node)
	b, _ := proto.Marshal(&nwv1.Problem{Node: node, Time: timestamppb.Now(), Id: "ev:k8s", Source: "kernel-monitor",
		Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: "OOMKilling", Message: "Killed process 4242 (java)",
		Severity: nwv1.Severity_SEVERITY_WARNING})
	if _, err := js.Publish(ctx, subj, b, jetstream.WithMsgID("ev:k8s")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the OOMKilling Event on the node", func() bool {
		name, ns, kind, uid := node, "", "Node", node
		sel := k.Client().CoreV1().Events("").GetFieldSelector(&name, &ns, &kind, &uid)
		l, err := k.Client().CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
		if err != nil {
			return false
		}
		for _, ev := range l.Items {
			if ev.Reason == "OOMKilling" && ev.Type == corev1.EventTypeWarning && ev.Source.Component == "kernel-monitor" {
				return true
			}
		}
		return false
	})
}

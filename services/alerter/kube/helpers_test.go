package kube_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/alerter/kube"
)

const alerterNamespace = "nodewarden"

// loadRole reads the alerter's ClusterRole from testdata, strictly: a misspelt field fails.
func loadRole(t *testing.T) rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile("testdata/clusterrole.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatalf("parse testdata/clusterrole.yaml: %v", err)
	}
	return role
}

// clientWithRole creates role, binds it to the service account nodewarden:<account>, waits
// until RBAC grants every rule of it, and returns a client acting as that account alone.
func clientWithRole(t *testing.T, k *testenv.Kube, role rbacv1.ClusterRole, account string) kubernetes.Interface {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := k.Client()
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create cluster role %s: %v", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: alerterNamespace, Name: account}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create cluster role binding %s: %v", role.Name, err)
	}
	c := k.ClientAs("system:serviceaccount:"+alerterNamespace+":"+account,
		"system:serviceaccounts", "system:serviceaccounts:"+alerterNamespace)
	// The authorizer sees the binding through an informer, and the role grants no read to
	// probe it with: ask the authorizer itself (every user may) until it allows each rule.
	testenv.WaitFor(t, 30*time.Second, role.Name+" in force", func() bool {
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, verb := range r.Verbs {
					review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
						ResourceAttributes: &authorizationv1.ResourceAttributes{
							Namespace: kube.EventNamespace, Verb: verb, Group: r.APIGroups[0], Resource: resource, Subresource: sub,
						},
					}}
					got, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
					if err != nil || !got.Status.Allowed {
						return false
					}
				}
			}
		}
		return true
	})
	return c
}

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

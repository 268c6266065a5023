package alerter_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

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
	c := alerterClient(t, k)
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

// alerterClient binds the alerter's ClusterRole (kube/testdata, the manifests' copy) to its
// service account and returns a client acting as that account alone.
func alerterClient(t *testing.T, k *testenv.Kube) kubernetes.Interface {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := os.ReadFile("kube/testdata/clusterrole.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatal(err)
	}
	admin := k.Client()
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "nodewarden", Name: "alerter"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := k.ClientAs("system:serviceaccount:nodewarden:alerter", "system:serviceaccounts", "system:serviceaccounts:nodewarden")
	testenv.WaitFor(t, 30*time.Second, "the alerter's role in force", func() bool {
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, verb := range r.Verbs {
					got, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
						Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
							Namespace: "default", Verb: verb, Group: r.APIGroups[0], Resource: resource, Subresource: sub}}},
						metav1.CreateOptions{})
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

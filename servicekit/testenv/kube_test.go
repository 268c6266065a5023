package testenv_test

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// TestKube shares one API server between subtests: it takes seconds and ~350 MB to start.
func TestKube(t *testing.T) {
	stopped := expectStopped(t)
	k := testenv.StartKube(t)
	stopped(k.URL)
	stopped(k.EtcdURL())

	t.Run("KubeletRunsBoundPod", func(t *testing.T) { testKubeletRunsBoundPod(t, k) })
	t.Run("ClientAsEnforcesRBAC", func(t *testing.T) { testClientAsEnforcesRBAC(t, k) })
}

func testKubeletRunsBoundPod(t *testing.T, k *testenv.Kube) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const node = "ip-10-0-0-1.ec2.internal"
	kl := k.Kubelet(t, node)

	n, err := k.WaitNodeCondition(ctx, node, corev1.NodeReady, corev1.ConditionTrue)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady }) {
		t.Errorf("node %s keeps the not-ready taint: %v", node, n.Spec.Taints)
	}

	pods := k.Client().CoreV1().Pods("default")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	got, err := k.WaitPodRunning(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.ContainerStatuses) != 1 || !got.Status.ContainerStatuses[0].Ready ||
		got.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("container statuses = %+v, want app running and ready", got.Status.ContainerStatuses)
	}

	// A graceful delete leaves the pod Terminating until the kubelet removes it.
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	if err := k.WaitPodDeleted(ctx, "default", "web"); err != nil {
		t.Fatal(err)
	}

	// Once stopped, the kubelet no longer runs pods.
	kl.Stop()
	pod.Name = "after-stop"
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if _, err := k.WaitPodRunning(short, "default", "after-stop"); err == nil {
		t.Errorf("pod ran on node %s after its kubelet stopped", node)
	}
}

func testClientAsEnforcesRBAC(t *testing.T, k *testenv.Kube) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jane := k.ClientAs("jane", "developers")

	_, err := jane.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list pods as jane without grants: err = %v, want Forbidden", err)
	}

	// Grant the group read access to pods in default: jane may list them there, and still
	// nothing else, which shows requests are authorized as jane, not as the admin.
	admin := k.Client().RbacV1()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: "default"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := admin.Roles("default").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "developers-read-pods", Namespace: "default"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "developers"}},
	}
	if _, err := admin.RoleBindings("default").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role binding: %v", err)
	}
	// The authorizer sees new bindings through its informers, a moment later.
	testenv.WaitFor(t, 30*time.Second, "jane may list pods in default", func() bool {
		_, err := jane.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil
	})
	if _, err := jane.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list pods in kube-system as jane: err = %v, want Forbidden", err)
	}
	if err := jane.CoreV1().Pods("default").Delete(ctx, "any", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("delete pod as jane: err = %v, want Forbidden", err)
	}
}

package drain_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/rebooter/drain"
)

// TestDrainer shares one API server between subtests (it takes seconds to start); each uses
// its own nodes and namespace, and every drain call runs as the rebooter's RBAC identity.
func TestDrainer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	k := testenv.StartKube(t)
	c := k.ClientForRole(t, "testdata/clusterrole.yaml", rebooterNamespace, "rebooter")

	t.Run("CordonDrainUncordon", func(t *testing.T) { testCordonDrainUncordon(t, k, c) })
	t.Run("DisruptionBudgetRefuses", func(t *testing.T) { testDisruptionBudgetRefuses(t, k, c) })
	t.Run("ForeignCordonKept", func(t *testing.T) { testForeignCordonKept(t, k, c) })
	t.Run("RecordOutlivesCordon", func(t *testing.T) { testRecordOutlivesCordon(t, k, c) })
	t.Run("PodSelector", func(t *testing.T) { testPodSelector(t, k, c) })
	t.Run("TaintLabelsAnnotations", func(t *testing.T) { testTaintLabelsAnnotations(t, k, c) })
	t.Run("BlockingPods", func(t *testing.T) { testBlockingPods(t, k, c) })
	t.Run("NodeExists", func(t *testing.T) { testNodeExists(t, k, c) })
	t.Run("RBACEnforced", func(t *testing.T) { testRBACEnforced(t, k) })
}

func testCordonDrainUncordon(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const node, other, ns = "drain-1", "drain-1-neighbour", "drain-1"
	k.Kubelet(t, node)
	k.Kubelet(t, other)
	createNamespace(ctx, t, k, ns)
	ds := createDaemonSet(ctx, t, k, ns, "agent")
	createPod(ctx, t, k, ns, podSpec{name: "agent-x", node: node, owner: ds, labels: map[string]string{"app": "agent"}})
	createPod(ctx, t, k, ns, podSpec{name: "web", node: node, owner: "rs", emptyDir: true})
	createPod(ctx, t, k, ns, podSpec{name: "worker", node: node, owner: "rs"})
	createPod(ctx, t, k, ns, podSpec{name: "elsewhere", node: other, owner: "rs"})
	for _, p := range []string{"agent-x", "web", "worker", "elsewhere"} {
		if _, err := k.WaitPodRunning(ctx, ns, p); err != nil {
			t.Fatal(err)
		}
	}

	d := newDrainer(t, c, node, drain.Options{GracePeriodSeconds: -1, Timeout: 30 * time.Second})
	ours, err := d.Cordon(ctx)
	if err != nil || !ours {
		t.Fatalf("Cordon = %t, %v; want true, nil", ours, err)
	}
	n := getNode(ctx, t, k, node)
	if !n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordonedBy] != drain.CordonedByRebooter {
		t.Fatalf("after Cordon: unschedulable %t, annotations %v", n.Spec.Unschedulable, n.Annotations)
	}
	start := time.Now()
	if err := d.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	t.Logf("drain took %s", time.Since(start).Round(time.Millisecond))
	for _, p := range []string{"web", "worker"} {
		if err := podExists(ctx, k, ns, p); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s after drain: %v, want not found", p, err)
		}
	}
	for _, p := range []string{"agent-x", "elsewhere"} {
		if err := podExists(ctx, k, ns, p); err != nil {
			t.Errorf("pod %s after drain: %v, want kept", p, err)
		}
	}

	// A fresh Drainer, as after a rebooter restart, finds the record and uncordons.
	again := newDrainer(t, c, node, drain.Options{})
	if ours, err := again.CordonedByUs(ctx); err != nil || !ours {
		t.Fatalf("CordonedByUs after restart = %t, %v; want true", ours, err)
	}
	if done, err := again.Uncordon(ctx); err != nil || !done {
		t.Fatalf("Uncordon = %t, %v; want true, nil", done, err)
	}
	n = getNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; n.Spec.Unschedulable || ok {
		t.Errorf("after Uncordon: unschedulable %t, annotations %v", n.Spec.Unschedulable, n.Annotations)
	}
	if done, err := again.Uncordon(ctx); err != nil || done {
		t.Errorf("second Uncordon = %t, %v; want false, nil", done, err)
	}
}

func testDisruptionBudgetRefuses(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const node, ns = "drain-pdb", "drain-pdb"
	k.Kubelet(t, node)
	createNamespace(ctx, t, k, ns)
	lbl := map[string]string{"app": "guarded"}
	createPod(ctx, t, k, ns, podSpec{name: "guarded", node: node, owner: "rs", labels: lbl})
	if _, err := k.WaitPodRunning(ctx, ns, "guarded"); err != nil {
		t.Fatal(err)
	}
	pdbs := k.Client().PolicyV1().PodDisruptionBudgets(ns)
	one := intstr.FromInt32(1)
	pdb, err := pdbs.Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: lbl}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pdb: %v", err)
	}
	// No disruption controller runs: write the status it would, allowing allowed disruptions.
	setBudget := func(allowed int32) {
		t.Helper()
		waitFor(ctx, t, "pdb status written", func() error {
			p, err := pdbs.Get(ctx, pdb.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Status = policyv1.PodDisruptionBudgetStatus{
				ObservedGeneration: p.Generation, DisruptionsAllowed: allowed,
				CurrentHealthy: 1, DesiredHealthy: 1 - allowed, ExpectedPods: 1,
			}
			_, err = pdbs.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
	}
	setBudget(0)

	d := newDrainer(t, c, node, drain.Options{GracePeriodSeconds: -1, Timeout: 3 * time.Second, EvictRetryDelay: 200 * time.Millisecond})
	if _, err := d.Cordon(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = d.Drain(ctx)
	took := time.Since(start)
	if !errors.Is(err, drain.ErrEvictionRefused) {
		t.Fatalf("Drain = %v; want ErrEvictionRefused", err)
	}
	t.Logf("refused drain: %v", err)
	if !strings.Contains(err.Error(), "disruption budget") {
		t.Errorf("Drain error %q does not give the budget's reason", err)
	}
	if took < 3*time.Second || took > 15*time.Second {
		t.Errorf("refused drain took %s; want about its 3s timeout", took)
	}
	if err := podExists(ctx, k, ns, "guarded"); err != nil {
		t.Errorf("guarded pod after refused drain: %v", err)
	}

	// Once the budget allows one disruption, the same drain evicts.
	setBudget(1)
	if err := d.Drain(ctx); err != nil {
		t.Fatalf("Drain with budget allowing 1: %v", err)
	}
	if err := podExists(ctx, k, ns, "guarded"); !apierrors.IsNotFound(err) {
		t.Errorf("guarded pod after drain: %v, want not found", err)
	}
}

func testForeignCordonKept(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const node = "drain-foreign"
	k.Kubelet(t, node)
	// An operator cordons the node.
	if _, err := k.Client().CoreV1().Nodes().Patch(ctx, node, types.MergePatchType,
		[]byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	d := newDrainer(t, c, node, drain.Options{})
	if ours, err := d.Cordon(ctx); err != nil || ours {
		t.Fatalf("Cordon of a cordoned node = %t, %v; want false, nil", ours, err)
	}
	if done, err := d.Uncordon(ctx); err != nil || done {
		t.Fatalf("Uncordon = %t, %v; want false, nil", done, err)
	}
	n := getNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; !n.Spec.Unschedulable || ok {
		t.Errorf("operator's cordon: unschedulable %t, annotations %v; want cordoned, no record", n.Spec.Unschedulable, n.Annotations)
	}
}

// testRecordOutlivesCordon: an operator uncordoned a node we had cordoned; our record stays,
// so a new Cordon is ours again, and a deleted node's Uncordon says NotFound.
func testRecordOutlivesCordon(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const node = "drain-record"
	k.Kubelet(t, node)
	d := newDrainer(t, c, node, drain.Options{})
	if ours, err := d.Cordon(ctx); err != nil || !ours {
		t.Fatalf("Cordon = %t, %v; want true, nil", ours, err)
	}
	if _, err := k.Client().CoreV1().Nodes().Patch(ctx, node, types.MergePatchType,
		[]byte(`{"spec":{"unschedulable":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if ours, err := d.Cordon(ctx); err != nil || !ours {
		t.Fatalf("Cordon after operator's uncordon = %t, %v; want true, nil", ours, err)
	}
	if n := getNode(ctx, t, k, node); !n.Spec.Unschedulable {
		t.Errorf("node not cordoned again")
	}
	if done, err := d.Uncordon(ctx); err != nil || !done {
		t.Fatalf("Uncordon = %t, %v; want true, nil", done, err)
	}
	gone := newDrainer(t, c, "drain-record-deleted", drain.Options{})
	if _, err := gone.Uncordon(ctx); !apierrors.IsNotFound(err) {
		t.Errorf("Uncordon of a missing node = %v; want NotFound", err)
	}
}

// testPodSelector: --drain-pod-selector evicts only the matching pods.
func testPodSelector(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const node, ns = "drain-selector", "drain-selector"
	k.Kubelet(t, node)
	createNamespace(ctx, t, k, ns)
	createPod(ctx, t, k, ns, podSpec{name: "batch", node: node, owner: "rs", labels: map[string]string{"tier": "batch"}})
	createPod(ctx, t, k, ns, podSpec{name: "web", node: node, owner: "rs", labels: map[string]string{"tier": "web"}})
	for _, p := range []string{"batch", "web"} {
		if _, err := k.WaitPodRunning(ctx, ns, p); err != nil {
			t.Fatal(err)
		}
	}
	d := newDrainer(t, c, node, drain.Options{PodSelector: "tier=batch", Timeout: 20 * time.Second})
	if err := d.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if err := podExists(ctx, k, ns, "batch"); !apierrors.IsNotFound(err) {
		t.Errorf("pod batch after drain: %v, want not found", err)
	}
	if err := podExists(ctx, k, ns, "web"); err != nil {
		t.Errorf("pod web after drain: %v, want kept", err)
	}
}

func testTaintLabelsAnnotations(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const node = "drain-taint"
	k.Kubelet(t, node)
	foreign := corev1.Taint{Key: "example.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	if _, err := k.Client().CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType,
		[]byte(`{"spec":{"taints":[{"key":"example.com/gpu","value":"true","effect":"NoSchedule"}]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	d := newDrainer(t, c, node, drain.Options{})
	ourTaint := corev1.Taint{Key: drain.TaintKey, Effect: corev1.TaintEffectPreferNoSchedule}
	for range 2 { // twice: the second is a no-op
		if err := d.Taint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := getNode(ctx, t, k, node).Spec.Taints; !sameTaints(got, foreign, ourTaint) {
		t.Errorf("taints after Taint = %v; want %v and %v", got, foreign, ourTaint)
	}
	if err := d.Untaint(ctx); err != nil {
		t.Fatal(err)
	}
	if got := getNode(ctx, t, k, node).Spec.Taints; !sameTaints(got, foreign) {
		t.Errorf("taints after Untaint = %v; want only %v", got, foreign)
	}

	pre, err := drain.ParseLabels([]string{"nodewarden.io/rebooting=true", "example.com/state=pre"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetLabels(ctx, pre); err != nil {
		t.Fatal(err)
	}
	n := getNode(ctx, t, k, node)
	if n.Labels["nodewarden.io/rebooting"] != "true" || n.Labels["example.com/state"] != "pre" || n.Labels[corev1.LabelHostname] != node {
		t.Errorf("labels after SetLabels = %v", n.Labels)
	}
	if err := d.RemoveLabels(ctx, "nodewarden.io/rebooting", "absent.example.com/x"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetLabels(ctx, map[string]string{"example.com/state": "post"}); err != nil {
		t.Fatal(err)
	}
	n = getNode(ctx, t, k, node)
	if _, ok := n.Labels["nodewarden.io/rebooting"]; ok || n.Labels["example.com/state"] != "post" || n.Labels[corev1.LabelHostname] != node {
		t.Errorf("labels after RemoveLabels and post label = %v", n.Labels)
	}

	at := time.Date(2026, 11, 26, 3, 4, 5, 0, time.UTC)
	if err := d.AnnotateRebootNeeded(ctx, at); err != nil {
		t.Fatal(err)
	}
	if err := d.AnnotateRebootInProgress(ctx, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	n = getNode(ctx, t, k, node)
	if n.Annotations[drain.AnnotationMostRecentRebootNeeded] != "2026-11-26T03:04:05Z" ||
		n.Annotations[drain.AnnotationRebootInProgress] != "2026-11-26T03:05:05Z" {
		t.Errorf("annotations = %v", n.Annotations)
	}
	if err := d.ClearRebootInProgress(ctx); err != nil {
		t.Fatal(err)
	}
	n = getNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationRebootInProgress]; ok || n.Annotations[drain.AnnotationMostRecentRebootNeeded] == "" {
		t.Errorf("annotations after ClearRebootInProgress = %v", n.Annotations)
	}
}

func sameTaints(got []corev1.Taint, want ...corev1.Taint) bool {
	return len(got) == len(want) && !slices.ContainsFunc(want, func(w corev1.Taint) bool {
		return !slices.ContainsFunc(got, func(g corev1.Taint) bool { return g.MatchTaint(&w) && g.Value == w.Value })
	})
}

func testBlockingPods(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const node, other, ns = "drain-block", "drain-block-other", "drain-block"
	k.Kubelet(t, node)
	createNamespace(ctx, t, k, ns)
	backup := map[string]string{"job": "backup"}
	createPod(ctx, t, k, ns, podSpec{name: "backup", node: node, labels: backup})
	createPod(ctx, t, k, ns, podSpec{name: "db", node: node, labels: map[string]string{"app": "db", "tier": "data"}})
	createPod(ctx, t, k, ns, podSpec{name: "web", node: node, labels: map[string]string{"app": "web"}})
	createPod(ctx, t, k, ns, podSpec{name: "backup-elsewhere", node: other, labels: backup})
	done := createPod(ctx, t, k, ns, podSpec{name: "backup-done", node: node, labels: backup})
	if _, err := k.WaitPodRunning(ctx, ns, done.Name); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "pod backup-done succeeded", func() error {
		p, err := k.Client().CoreV1().Pods(ns).Get(ctx, done.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodSucceeded
		_, err = k.Client().CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})

	d := newDrainer(t, c, node, drain.Options{})
	tests := []struct {
		name      string
		selectors []string
		want      []string
		wantErr   bool
	}{
		{name: "none", selectors: nil, want: nil},
		{name: "one", selectors: []string{"job=backup"}, want: []string{ns + "/backup"}},
		{name: "any of two", selectors: []string{"job=backup", "app in (db, cache)"}, want: []string{ns + "/backup", ns + "/db"}},
		{name: "overlapping", selectors: []string{"app=db", "tier=data"}, want: []string{ns + "/db"}},
		{name: "no match", selectors: []string{"job=restore"}, want: []string{}},
		{name: "bad selector", selectors: []string{"job in (backup"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.BlockingPods(ctx, tc.selectors)
			if (err != nil) != tc.wantErr {
				t.Fatalf("BlockingPods(%q) error = %v, want error %t", tc.selectors, err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("BlockingPods(%q) = %q, want %q", tc.selectors, got, tc.want)
			}
		})
	}
}

func testNodeExists(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k.Kubelet(t, "drain-exists")
	d := newDrainer(t, c, "drain-exists", drain.Options{})
	for name, want := range map[string]bool{"drain-exists": true, "drain-deleted": false} {
		if got, err := d.NodeExists(ctx, name); err != nil || got != want {
			t.Errorf("NodeExists(%s) = %t, %v; want %t", name, got, err, want)
		}
	}
}

// testRBACEnforced shows the identity matters: without the rebooter's binding, Cordon is
// refused, so the other subtests really exercise the role.
func testRBACEnforced(t *testing.T, k *testenv.Kube) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k.Kubelet(t, "drain-rbac")
	stranger := k.ClientAs("system:serviceaccount:nodewarden:stranger", "system:serviceaccounts")
	d := newDrainer(t, stranger, "drain-rbac", drain.Options{})
	if _, err := d.Cordon(ctx); !apierrors.IsForbidden(err) {
		t.Errorf("Cordon without the rebooter's role = %v; want Forbidden", err)
	}
}

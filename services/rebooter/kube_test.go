package rebooter_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter"
	"github.com/nodewarden/nodewarden/services/rebooter/drain"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
)

// TestKube runs rebooters against a real kube-apiserver, as the rebooter's own RBAC identity.
// The subtests share the API server (it takes seconds to start); each has its own nodes,
// namespace and bus.
func TestKube(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	k := testenv.StartKube(t)
	c := k.ClientForRole(t, "drain/testdata/clusterrole.yaml", "nodewarden", "rebooter")

	t.Run("DrainAndReboot", func(t *testing.T) { testKubeDrainAndReboot(t, k, c) })
	t.Run("OperatorCordonKept", func(t *testing.T) { testKubeOperatorCordonKept(t, k, c) })
	t.Run("BlockingPods", func(t *testing.T) { testKubeBlockingPods(t, k, c) })
	t.Run("DrainFailure", func(t *testing.T) { testKubeDrainFailure(t, k, c) })
	t.Run("DeletedNodeFreesLock", func(t *testing.T) { testKubeDeletedNodeFreesLock(t, k, c) })
	t.Run("InterruptedDrain", func(t *testing.T) { testKubeInterruptedDrain(t, k, c) })
	t.Run("RestartAfterCrash", func(t *testing.T) { testKubeRestartAfterCrash(t, k, c) })
}

const (
	labelRebooting = "nodewarden.io/rebooting"
	labelRebooted  = "nodewarden.io/rebooted"
)

// testKubeDrainAndReboot: at the moment of the reboot the node is cordoned by us, tainted,
// labelled and annotated, its pods evicted; afterwards all of that is undone but the
// post-reboot label and the reboot-needed annotation, and the lock is free.
func testKubeDrainAndReboot(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx := kubeCtx(t)
	const node, ns = "kube-drain", "kube-drain"
	k.Kubelet(t, node)
	kubeNamespace(ctx, t, k, ns)
	kubePod(ctx, t, k, ns, "web", node, nil, true)
	kubePod(ctx, t, k, ns, "bare", node, nil, false)

	h := kubeHarness(t, c, func(cfg *rebooter.Config) {
		cfg.PreferNoScheduleTaint = drain.TaintKey
		cfg.AnnotateNodes = true
		cfg.PreRebootNodeLabels = []string{labelRebooting + "=true"}
		cfg.PostRebootNodeLabels = []string{labelRebooted + "=true"}
	})
	var (
		mu       sync.Mutex
		atReboot *corev1.Node
		podsLeft []string
		readErr  error
	)
	h.onReboot = func(string) bool {
		// The node's rebooter is stopped: this is the node as it went down.
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := k.Client().CoreV1().Nodes().Get(rctx, node, metav1.GetOptions{})
		var names []string
		if err == nil {
			var pods *corev1.PodList
			if pods, err = k.Client().CoreV1().Pods(ns).List(rctx, metav1.ListOptions{}); err == nil {
				for _, p := range pods.Items {
					names = append(names, p.Name)
				}
			}
		}
		mu.Lock()
		atReboot, podsLeft, readErr = n, names, err
		mu.Unlock()
		return true
	}
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	h.waitCompleted(time.Minute, node)

	mu.Lock()
	n, left, err := atReboot, podsLeft, readErr
	mu.Unlock()
	if err != nil || n == nil {
		t.Fatalf("reading the node at reboot: %v (node %v)", err, n)
	}
	if !n.Spec.Unschedulable || n.Annotations[drain.AnnotationCordonedBy] != drain.CordonedByRebooter {
		t.Errorf("at reboot: unschedulable %t, annotations %v; want cordoned by the rebooter", n.Spec.Unschedulable, n.Annotations)
	}
	if n.Labels[labelRebooting] != "true" || n.Annotations[drain.AnnotationRebootInProgress] == "" || !hasTaint(n, drain.TaintKey) {
		t.Errorf("at reboot: labels %v, annotations %v, taints %v; want the pre-reboot label, reboot-in-progress and our taint",
			n.Labels, n.Annotations, n.Spec.Taints)
	}
	if len(left) != 0 {
		t.Errorf("pods left at reboot: %q, want all evicted", left)
	}

	n = kubeNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; n.Spec.Unschedulable || ok {
		t.Errorf("after reboot: unschedulable %t, annotations %v; want uncordoned, no cordon record", n.Spec.Unschedulable, n.Annotations)
	}
	if hasTaint(n, drain.TaintKey) {
		t.Errorf("after reboot: taints %v still hold %s", n.Spec.Taints, drain.TaintKey)
	}
	if _, ok := n.Labels[labelRebooting]; ok || n.Labels[labelRebooted] != "true" {
		t.Errorf("after reboot: labels %v; want %s gone, %s=true", n.Labels, labelRebooting, labelRebooted)
	}
	if _, ok := n.Annotations[drain.AnnotationRebootInProgress]; ok || n.Annotations[drain.AnnotationMostRecentRebootNeeded] == "" {
		t.Errorf("after reboot: annotations %v; want reboot-in-progress gone, most-recent-reboot-needed kept", n.Annotations)
	}
	wantLockFree(ctx, t, h)
	want := []nwv1.RebootPhase{nwv1.RebootPhase_REBOOT_PHASE_REQUESTED, nwv1.RebootPhase_REBOOT_PHASE_LOCKED,
		nwv1.RebootPhase_REBOOT_PHASE_DRAINING, nwv1.RebootPhase_REBOOT_PHASE_REBOOTING, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED}
	if got := phaseSeq(h.phases(node)); !subsequence(want, got) {
		t.Errorf("phases %v, want %v in order", got, want)
	}
	wantReboots(t, h, 1)
}

// testKubeOperatorCordonKept: a node an operator cordoned stays cordoned after the reboot.
func testKubeOperatorCordonKept(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx := kubeCtx(t)
	const node = "kube-operator-cordon"
	k.Kubelet(t, node)
	if _, err := k.Client().CoreV1().Nodes().Patch(ctx, node, types.MergePatchType,
		[]byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("operator's cordon: %v", err)
	}
	h := kubeHarness(t, c, nil)
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	h.waitCompleted(time.Minute, node)
	wantReboots(t, h, 1)
	n := kubeNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; !n.Spec.Unschedulable || ok {
		t.Errorf("after reboot: unschedulable %t, annotations %v; want the operator's cordon kept, no record of ours",
			n.Spec.Unschedulable, n.Annotations)
	}
	wantLockFree(ctx, t, h)
}

// testKubeBlockingPods: a running pod matching --blocking-pod-selector holds the reboot back,
// by name, until it is gone.
func testKubeBlockingPods(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx := kubeCtx(t)
	const node, ns = "kube-blocking", "kube-blocking"
	k.Kubelet(t, node)
	kubeNamespace(ctx, t, k, ns)
	kubePod(ctx, t, k, ns, "backup", node, map[string]string{"app": "backup"}, false)
	h := kubeHarness(t, c, func(cfg *rebooter.Config) { cfg.BlockingPodSelectors = []string{"app=backup"} })
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	testenv.WaitFor(t, 30*time.Second, "blocked by the backup pod", func() bool {
		return h.has(node, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, "blocking pods running: "+ns+"/backup")
	})
	if ivs := h.reboots(); len(ivs) != 0 || h.has(node, nwv1.RebootPhase_REBOOT_PHASE_LOCKED, "") {
		t.Fatalf("took the lock or rebooted while a blocking pod ran: reboots %+v, phases %v", ivs, phaseSeq(h.phases(node)))
	}
	if err := k.Client().CoreV1().Pods(ns).Delete(ctx, "backup", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the backup pod: %v", err)
	}
	h.waitCompleted(time.Minute, node)
	wantReboots(t, h, 1)
	wantLockFree(ctx, t, h)
}

// testKubeDrainFailure: a disruption budget that allows nothing fails the drain after
// --drain-timeout: the node is put back, the lock freed, nothing rebooted. With
// --force-reboot the node reboots anyway.
func testKubeDrainFailure(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx := kubeCtx(t)
	const node, ns = "kube-pdb", "kube-pdb"
	k.Kubelet(t, node)
	guardedPod(ctx, t, k, ns, node)
	h := kubeHarness(t, c, func(cfg *rebooter.Config) { cfg.DrainTimeout = 3 * time.Second })
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	testenv.WaitFor(t, 45*time.Second, "the drain to fail", func() bool {
		return h.has(node, nwv1.RebootPhase_REBOOT_PHASE_FAILED, "drain failed")
	})
	// Stop it so the retry a period later does not cordon again while we look; a rebooter
	// stopped mid-attempt puts the node back too.
	h.stop(node)
	if !h.has(node, nwv1.RebootPhase_REBOOT_PHASE_FAILED, "disruption budget") {
		t.Errorf("the failed status does not give the budget's refusal: %v", statusDetails(h, node))
	}
	n := kubeNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; n.Spec.Unschedulable || ok {
		t.Errorf("after the failed drain: unschedulable %t, annotations %v; want uncordoned", n.Spec.Unschedulable, n.Annotations)
	}
	wantLockFree(ctx, t, h)
	wantReboots(t, h, 0)

	const forced, forcedNS = "kube-pdb-force", "kube-pdb-force"
	k.Kubelet(t, forced)
	guardedPod(ctx, t, k, forcedNS, forced)
	hf := kubeHarness(t, c, func(cfg *rebooter.Config) {
		cfg.DrainTimeout = 3 * time.Second
		cfg.ForceReboot = true
	})
	hf.addNode(forced)
	hf.request(forced, "sentinel:"+forced, "")
	hf.waitCompleted(time.Minute, forced)
	if !hf.has(forced, nwv1.RebootPhase_REBOOT_PHASE_DRAINING, "--force-reboot: rebooting anyway") {
		t.Errorf("no status says the drain failed and --force-reboot went on: %v", statusDetails(hf, forced))
	}
	wantReboots(t, hf, 1)
	n = kubeNode(ctx, t, k, forced)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; n.Spec.Unschedulable || ok {
		t.Errorf("after the forced reboot: unschedulable %t, annotations %v; want uncordoned", n.Spec.Unschedulable, n.Annotations)
	}
	wantLockFree(ctx, t, hf)
}

// testKubeDeletedNodeFreesLock: a slot held by a node with no Node object is released by the
// rebooters' sweep, so a real node's reboot goes ahead although the lock never expires.
func testKubeDeletedNodeFreesLock(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx := kubeCtx(t)
	const node, gone = "kube-alive", "kube-gone"
	k.Kubelet(t, node)
	h := kubeHarness(t, c, nil)
	kv, err := h.jsc.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lock.New(kv, lock.Options{Node: gone, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := lk.TryAcquire(ctx, "sentinel:"+gone); err != nil || !ok {
		t.Fatalf("the gone node takes the lock: %t, %v", ok, err)
	}
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	h.waitCompleted(time.Minute, node)
	wantReboots(t, h, 1)
	wantLockFree(ctx, t, h)
}

// kubeHarness is a harness whose rebooters use c, checking again every 300ms.
func kubeHarness(t *testing.T, c kubernetes.Interface, configure func(*rebooter.Config)) *harness {
	t.Helper()
	return newHarness(t, func(cfg *rebooter.Config) {
		cfg.Kube = c
		cfg.Period = 300 * time.Millisecond
		cfg.DrainTimeout = 30 * time.Second
		if configure != nil {
			configure(cfg)
		}
	})
}

func kubeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func kubeNamespace(ctx context.Context, t *testing.T, k *testenv.Kube, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := k.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// kubePod creates a pod bound to node, with a ReplicaSet controller reference if managed
// (none runs; drain only looks at the reference), and waits until the kubelet runs it.
func kubePod(ctx context.Context, t *testing.T, k *testenv.Kube, ns, name, node string, labels map[string]string, managed bool) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	if managed {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
			Name: name + "-rs", UID: types.UID(name + "-rs-uid"), Controller: &yes}}
	}
	if _, err := k.Client().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	if _, err := k.WaitPodRunning(ctx, ns, name); err != nil {
		t.Fatal(err)
	}
}

// guardedPod creates namespace ns with one managed pod on node and a disruption budget for it
// whose status (no disruption controller runs) allows no disruption: its eviction gets 429.
func guardedPod(ctx context.Context, t *testing.T, k *testenv.Kube, ns, node string) {
	t.Helper()
	kubeNamespace(ctx, t, k, ns)
	lbl := map[string]string{"app": "guarded"}
	kubePod(ctx, t, k, ns, "guarded", node, lbl, true)
	pdbs := k.Client().PolicyV1().PodDisruptionBudgets(ns)
	one := intstr.FromInt32(1)
	if _, err := pdbs.Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: lbl}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pdb %s/guarded: %v", ns, err)
	}
	testenv.WaitFor(t, 30*time.Second, "pdb status written", func() bool {
		p, err := pdbs.Get(ctx, "guarded", metav1.GetOptions{})
		if err != nil {
			return false
		}
		p.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: p.Generation, DisruptionsAllowed: 0,
			CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
		_, err = pdbs.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err == nil
	})
}

func kubeNode(ctx context.Context, t *testing.T, k *testenv.Kube, name string) *corev1.Node {
	t.Helper()
	n, err := k.Client().CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node %s: %v", name, err)
	}
	return n
}

func hasTaint(n *corev1.Node, key string) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == key && t.Effect == corev1.TaintEffectPreferNoSchedule
	})
}

// wantLockFree fails unless no slot of the reboot lock is held.
func wantLockFree(ctx context.Context, t *testing.T, h *harness) {
	t.Helper()
	kv, err := h.jsc.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		t.Fatal(err)
	}
	if hs, err := lock.Holders(ctx, kv); err != nil || len(hs) != 0 {
		t.Errorf("reboot lock holders %+v, %v; want none", hs, err)
	}
}

// wantReboots fails unless the reboot program ran n times.
func wantReboots(t *testing.T, h *harness, n int) {
	t.Helper()
	if ivs := h.reboots(); len(ivs) != n {
		t.Errorf("reboot program ran %d times (%+v), want %d", len(ivs), ivs, n)
	}
}

// statusDetails lists node's statuses, for failure messages.
func statusDetails(h *harness, node string) string {
	var b strings.Builder
	for _, s := range h.phases(node) {
		b.WriteString("\n  " + s.Phase.String() + ": " + s.Detail)
	}
	return b.String()
}

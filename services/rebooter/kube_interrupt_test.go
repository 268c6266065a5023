package rebooter_test

import (
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter"
	"github.com/nodewarden/nodewarden/services/rebooter/drain"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
	"github.com/nodewarden/nodewarden/services/rebooter/requests"
)

// testKubeInterruptedDrain: a rebooter stopped (SIGTERM) while a drain waits on a disruption
// budget puts the node back on its way out: uncordoned, lock released, the request kept.
func testKubeInterruptedDrain(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx := kubeCtx(t)
	const node, ns = "kube-int", "kube-int"
	k.Kubelet(t, node)
	guardedPod(ctx, t, k, ns, node)
	h := kubeHarness(t, c, func(cfg *rebooter.Config) { cfg.DrainTimeout = 0 }) // waits for ever
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	h.waitStatus(30*time.Second, node, nwv1.RebootPhase_REBOOT_PHASE_DRAINING, "cordoned; draining")
	if n := kubeNode(ctx, t, k, node); !n.Spec.Unschedulable {
		t.Fatalf("draining but not cordoned")
	}
	h.stop(node)
	n := kubeNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; n.Spec.Unschedulable || ok {
		t.Errorf("after SIGTERM mid-drain: unschedulable %t, annotations %v; want uncordoned", n.Spec.Unschedulable, n.Annotations)
	}
	wantLockFree(ctx, t, h)
	wantReboots(t, h, 0)
	kv, err := h.jsc.KeyValue(ctx, topology.BucketRebootRequests)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := requests.New(kv, node)
	rec, _, ok, err := st.Get(ctx)
	if err != nil || !ok || rec.Phase != "" || rec.Cordoned {
		t.Errorf("request record after SIGTERM: %+v ok=%t err=%v; want it kept, waiting, not cordoned", rec, ok, err)
	}
}

// testKubeRestartAfterCrash: what a rebooter killed mid-drain leaves — the node cordoned by us,
// a lock slot held, the record in "draining" — is undone by the next rebooter as it starts,
// before it waits again (here for a window that is closed).
func testKubeRestartAfterCrash(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx := kubeCtx(t)
	const node = "kube-crash"
	k.Kubelet(t, node)
	clock := &fakeClock{t: time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)}
	h := kubeHarness(t, c, func(cfg *rebooter.Config) {
		cfg.Now = clock.Now
		cfg.Window.Start, cfg.Window.End, cfg.Window.TimeZone = "01:00", "02:00", "UTC"
	})
	d, err := drain.New(c, node, drain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ours, err := d.Cordon(ctx); err != nil || !ours {
		t.Fatalf("cordon = %t, %v", ours, err)
	}
	lockKV, err := h.jsc.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lock.New(lockKV, lock.Options{Node: node, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.TryAcquire(ctx, "sentinel:"+node); err != nil || !ok {
		t.Fatalf("take the lock as the crashed rebooter: %t, %v", ok, err)
	}
	reqKV, err := h.jsc.KeyValue(ctx, topology.BucketRebootRequests)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := requests.New(reqKV, node)
	if _, _, err := st.Add(ctx, &nwv1.RebootRequired{Node: node, RequestId: "sentinel:" + node, Reason: "test"}, "", clock.Now()); err != nil {
		t.Fatal(err)
	}
	rec, rev, _, err := st.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.Phase, rec.Cordoned = "draining", true
	if _, err := st.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}

	h.addNode(node)
	h.waitStatus(30*time.Second, node, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, "outside window")
	n := kubeNode(ctx, t, k, node)
	if _, ok := n.Annotations[drain.AnnotationCordonedBy]; n.Spec.Unschedulable || ok {
		t.Errorf("after the restart: unschedulable %t, annotations %v; want uncordoned", n.Spec.Unschedulable, n.Annotations)
	}
	wantLockFree(ctx, t, h)
	wantReboots(t, h, 0)
}

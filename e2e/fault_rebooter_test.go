package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Nodes need a reboot, one at a time (--concurrency 1, --lock-ttl 5s). The first holds the lock
// and is stuck draining (a PodDisruptionBudget refuses its pod's eviction) when its rebooter is
// killed -9 and stays dead: nobody else locks before the kill, and after the lock's TTL the
// others take it and reboot one by one. Then the budget goes and the rebooter starts again: it
// uncordons the node it had cordoned, starts over, and reboots it. Every node rebooted exactly
// once, never two at once, none left cordoned.
func TestFaultRebooterKilledHoldingLock(t *testing.T) {
	const lockTTL = 5 * time.Second
	var names []string
	for i := range load(3, 5) {
		names = append(names, fmt.Sprintf("lock-%d.e2e.internal", i+1))
	}
	e := Start(t, Options{Nodes: names, Kube: true, Rebooters: true,
		Args: map[string][]string{"rebooter": {"--concurrency=1", "--lock-ttl=" + lockTTL.String()}}})
	victim := e.Nodes[0]
	e.RunPod("guarded", "db-0", victim.Name)
	e.guardPod("guarded", "db-0")
	statuses := e.FollowRebootStatus()

	victim.TouchSentinel(t)
	e.WaitFor(30*time.Second, victim.Name+" locked, cordoned and draining", func() bool {
		return statuses.Has(victim.Name, nwv1.RebootPhase_REBOOT_PHASE_DRAINING)
	})
	for _, n := range e.Nodes[1:] {
		n.TouchSentinel(t)
	}
	e.WaitFor(30*time.Second, "the others waiting for the lock", func() bool {
		for _, n := range e.Nodes[1:] {
			if !statuses.Has(n.Name, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED) {
				return false
			}
		}
		return true
	})
	victim.Rebooter.Kill()
	killed := time.Now()
	unschedulable := e.watchUnschedulable(victim.Name)

	e.WaitFor(load(90*time.Second, 150*time.Second), "the other nodes rebooted", func() bool {
		for _, n := range e.Nodes[1:] {
			if !statuses.Has(n.Name, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED) {
				return false
			}
		}
		return true
	})
	// The holder renewed every TTL/3, so its holding ran out between 2/3 TTL and a TTL after
	// the kill (a little slack for the clock reads).
	expired := killed.Add(2*lockTTL/3 - 250*time.Millisecond)
	for _, n := range e.Nodes[1:] {
		for _, s := range statuses.Of(n.Name) {
			if s.GetPhase() == nwv1.RebootPhase_REBOOT_PHASE_LOCKED && s.GetTime().AsTime().Before(expired) {
				e.Fatalf("%s locked %s after the holder was killed, before its lock could expire (TTL %s)\nstatuses:%s",
					n.Name, s.GetTime().AsTime().Sub(killed), lockTTL, statuses)
			}
		}
	}
	first := e.Reboots()[0]
	t.Logf("first reboot after the kill: %s, %s after it (lock TTL %s)", first.Node, first.Start.Sub(killed).Round(time.Millisecond), lockTTL)
	if first.Node == victim.Name {
		e.Fatalf("%s rebooted while its rebooter was dead", victim.Name)
	}
	if c, err := e.CordonedNodes(); err != nil || !slices.Equal(c, []string{victim.Name}) {
		e.Fatalf("cordoned with the victim's rebooter dead: %v (%v), want only %s", c, err, victim.Name)
	}

	e.unguardPod("guarded", "db-0")
	victim.Rebooter.Start(t)
	e.WaitFor(60*time.Second, victim.Name+" rebooted after its rebooter came back", func() bool {
		return statuses.Has(victim.Name, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED)
	})
	// Its node went from cordoned (by its first life) to uncordoned (put back on restart),
	// cordoned again for the reboot, and uncordoned when it completed.
	e.WaitFor(10*time.Second, victim.Name+" uncordoned, cordoned and uncordoned again", func() bool {
		return slices.Equal(unschedulable.values(), []bool{true, false, true, false})
	})

	rs := e.Reboots()
	var order []string
	for _, r := range rs {
		order = append(order, r.Node)
		if r.KubeErr != nil || !slices.Contains(r.Cordoned, r.Node) || len(r.Pods) != 0 {
			e.Fatalf("at %s's reboot: cordoned %v, pods %v (%v); want it cordoned and drained", r.Node, r.Cordoned, r.Pods, r.KubeErr)
		}
	}
	if sorted := slices.Sorted(slices.Values(order)); !slices.Equal(sorted, names) {
		e.Fatalf("reboots %v, want each of %v exactly once\nstatuses:%s", order, names, statuses)
	}
	if m := maxConcurrentReboots(rs); m != 1 {
		e.Fatalf("%d nodes down at once, want 1: %+v", m, rs)
	}
	if c, err := e.CordonedNodes(); err != nil || len(c) != 0 {
		e.Fatalf("cordoned after every reboot: %v (%v)", c, err)
	}
	t.Logf("reboot order %v; %s's unschedulable went %v", order, victim.Name, unschedulable.values())
}

// guardPod labels the pod and puts a PodDisruptionBudget on it that refuses every eviction
// (no controller computes its status, so the API server answers 429), holding a drain.
func (e *Env) guardPod(ns, name string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := e.Kube.Client()
	patch := []byte(`{"metadata":{"labels":{"e2e-guard":"` + name + `"}}}`)
	if _, err := c.CoreV1().Pods(ns).Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		e.Fatalf("label pod %s/%s: %v", ns, name, err)
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e-guard": name}}},
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		e.Fatalf("create budget %s/%s: %v", ns, name, err)
	}
}

// unguardPod deletes guardPod's budget, so the pod can be evicted.
func (e *Env) unguardPod(ns, name string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Kube.Client().PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		e.Fatalf("delete budget %s/%s: %v", ns, name, err)
	}
}

// unschedulableLog is the sequence of a Node's spec.unschedulable values, repeats left out.
type unschedulableLog struct {
	ch   chan bool
	list []bool
}

// watchUnschedulable records node's spec.unschedulable from now on (its current value first).
func (e *Env) watchUnschedulable(node string) *unschedulableLog {
	e.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.T.Cleanup(cancel)
	w, err := e.Kube.Client().CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + node})
	if err != nil {
		e.Fatalf("watch node %s: %v", node, err)
	}
	l := &unschedulableLog{ch: make(chan bool, 1024)}
	go func() {
		defer close(l.ch)
		for ev := range w.ResultChan() {
			if n, ok := ev.Object.(*corev1.Node); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				select {
				case l.ch <- n.Spec.Unschedulable:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return l
}

// values returns the sequence so far; only the test goroutine calls it.
func (l *unschedulableLog) values() []bool {
	for {
		select {
		case v, ok := <-l.ch:
			if !ok {
				return l.list
			}
			if len(l.list) == 0 || l.list[len(l.list)-1] != v {
				l.list = append(l.list, v)
			}
		default:
			return l.list
		}
	}
}

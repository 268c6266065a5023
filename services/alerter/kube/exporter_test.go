package kube_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/alerter/kube"
)

// TestExporter shares one API server between subtests (it takes seconds to start); each uses
// its own nodes, and every exporter call runs as the alerter's RBAC identity from testdata.
func TestExporter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	k := testenv.StartKube(t)
	c := k.ClientWithRole(t, testenv.LoadClusterRole(t, "testdata/clusterrole.yaml"), alerterNamespace, "alerter")

	t.Run("Conditions", func(t *testing.T) { testConditions(t, k, c) })
	t.Run("Heartbeat", func(t *testing.T) { testHeartbeat(t, k, c) })
	t.Run("Events", func(t *testing.T) { testEvents(t, k, c) })
	t.Run("RoleMinimal", func(t *testing.T) { testRoleMinimal(t, k) })
}

// testConditions sets, repeats and clears conditions with a controlled clock, checking what
// the Node shows after each step.
func testConditions(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const node = "cond-node.ec2.internal"
	k.Kubelet(t, node)
	e, reg := newExporter(t, c, kube.Options{})
	// The API keeps times to the second.
	t0 := time.Now().Truncate(time.Second)
	now := t0
	e.SetClock(func() time.Time { return now })
	began := t0.Add(-10 * time.Second)

	steps := []struct {
		name string
		at   time.Duration
		cond kube.Condition
		// wanted on the Node; the heartbeat is always t0+at
		status, reason, message string
		transition              time.Time
	}{
		{name: "true", at: 0,
			cond:   kube.Condition{Type: "KernelDeadlock", Status: "True", Reason: "DockerHung", Message: "task docker:1234 blocked for more than 120 seconds.", Transition: began},
			status: "True", reason: "DockerHung", message: "task docker:1234 blocked for more than 120 seconds.", transition: began},
		{name: "repeat keeps the transition", at: time.Minute,
			cond:   kube.Condition{Type: "KernelDeadlock", Status: "True", Reason: "DockerHung", Message: "still blocked", Transition: began},
			status: "True", reason: "DockerHung", message: "still blocked", transition: began},
		{name: "zero transition keeps the one of the same status", at: 2 * time.Minute,
			cond:   kube.Condition{Type: "KernelDeadlock", Status: "True", Reason: "DockerHung", Message: "still blocked"},
			status: "True", reason: "DockerHung", message: "still blocked", transition: began},
		{name: "false stays with its own reason and no message", at: 3 * time.Minute,
			cond:   kube.Condition{Type: "KernelDeadlock", Status: "False", Reason: "KernelHasNoDeadlock", Transition: t0.Add(3 * time.Minute)},
			status: "False", reason: "KernelHasNoDeadlock", message: "", transition: t0.Add(3 * time.Minute)},
		{name: "zero transition on a change takes now", at: 4 * time.Minute,
			cond:   kube.Condition{Type: "KernelDeadlock", Status: "True", Reason: "DockerHung", Message: "again"},
			status: "True", reason: "DockerHung", message: "again", transition: t0.Add(4 * time.Minute)},
	}
	for _, s := range steps {
		now = t0.Add(s.at)
		s.cond.Node = node
		if err := e.SetCondition(ctx, s.cond); err != nil {
			t.Fatalf("%s: SetCondition: %v", s.name, err)
		}
		n := getNode(ctx, t, k, node)
		got := condition(t, n, s.cond.Type)
		if string(got.Status) != s.status || got.Reason != s.reason || got.Message != s.message {
			t.Errorf("%s: condition %s=%s reason %q message %q, want %s reason %q message %q",
				s.name, got.Type, got.Status, got.Reason, got.Message, s.status, s.reason, s.message)
		}
		if !got.LastTransitionTime.Time.Equal(s.transition) {
			t.Errorf("%s: lastTransitionTime %s, want %s", s.name, got.LastTransitionTime.UTC(), s.transition.UTC())
		}
		if !got.LastHeartbeatTime.Time.Equal(now) {
			t.Errorf("%s: lastHeartbeatTime %s, want %s", s.name, got.LastHeartbeatTime.UTC(), now.UTC())
		}
		requireReady(t, n)
	}

	// A second type merges beside the first, and the patch refreshes the first's heartbeat.
	now = t0.Add(5 * time.Minute)
	if err := e.SetCondition(ctx, kube.Condition{Node: node, Type: "FrequentKubeletRestart", Status: "False", Reason: "NoFrequentKubeletRestart"}); err != nil {
		t.Fatal(err)
	}
	n := getNode(ctx, t, k, node)
	if got := condition(t, n, "KernelDeadlock"); !got.LastHeartbeatTime.Time.Equal(now) || got.Message != "again" {
		t.Errorf("KernelDeadlock after setting another type: %+v, want heartbeat %s and message kept", got, now.UTC())
	}
	condition(t, n, "FrequentKubeletRestart")
	requireReady(t, n)
	if got, want := counter(t, reg, "nodewarden_alerter_kube_condition_patches_total", "set"), float64(len(steps)+1); got != want {
		t.Errorf("condition patches (set) = %v, want %v", got, want)
	}

	// Bad input is refused before any call.
	for _, bad := range []kube.Condition{
		{Type: "KernelDeadlock", Status: "True"},
		{Node: node, Status: "True"},
		{Node: node, Type: "KernelDeadlock", Status: "true"},
	} {
		if err := e.SetCondition(ctx, bad); err == nil {
			t.Errorf("SetCondition(%+v) = nil, want an error", bad)
		}
	}
}

// testHeartbeat runs the loop with a short period: it refreshes the heartbeat, puts back a
// condition someone else changed, and forgets a deleted Node.
func testHeartbeat(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const node, gone = "hb-node", "hb-gone"
	k.Kubelet(t, node)
	kl := k.Kubelet(t, gone)
	e, reg := newExporter(t, c, kube.Options{Heartbeat: time.Second})
	for _, n := range []string{node, gone} {
		if err := e.SetCondition(ctx, kube.Condition{Node: n, Type: "KernelDeadlock", Status: "True", Reason: "DockerHung", Message: "blocked"}); err != nil {
			t.Fatal(err)
		}
	}
	first := condition(t, getNode(ctx, t, k, node), "KernelDeadlock")

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	testenv.WaitFor(t, 20*time.Second, "a fresh heartbeat", func() bool {
		got := condition(t, getNode(ctx, t, k, node), "KernelDeadlock")
		return got.LastHeartbeatTime.After(first.LastHeartbeatTime.Time)
	})
	n := getNode(ctx, t, k, node)
	if got := condition(t, n, "KernelDeadlock"); !got.LastTransitionTime.Equal(&first.LastTransitionTime) || got.Status != corev1.ConditionTrue {
		t.Errorf("after heartbeat: %+v, want status True and transition %s", got, first.LastTransitionTime)
	}
	requireReady(t, n)

	// Someone else overwrites the condition: the heartbeat asserts the exporter's view again.
	tamper := []byte(`{"status":{"conditions":[{"type":"KernelDeadlock","status":"Unknown","reason":"Tampered","message":""}]}}`)
	if _, err := k.Client().CoreV1().Nodes().PatchStatus(ctx, node, tamper); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the condition put back", func() bool {
		got := condition(t, getNode(ctx, t, k, node), "KernelDeadlock")
		return got.Status == corev1.ConditionTrue && got.Reason == "DockerHung"
	})

	kl.Stop()
	if err := k.Client().CoreV1().Nodes().Delete(ctx, gone, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the deleted node forgotten", func() bool {
		return gauge(t, reg, "nodewarden_alerter_kube_heartbeat_nodes") == 1
	})
	if counter(t, reg, "nodewarden_alerter_kube_condition_patches_total", "heartbeat") < 1 {
		t.Error("no heartbeat patch counted")
	}
}

// testEvents records Events and reads them back as `kubectl describe node` finds them.
func testEvents(t *testing.T, k *testenv.Kube, c kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const node = "ev-node.ec2.internal"
	e, reg := newExporter(t, c, kube.Options{})
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	oom := kube.Event{Node: node, Reason: "OOMKilling", Message: "Killed process 1234 (stress)", Source: "kernel-monitor", Severity: "warning", Time: at}

	steps := []struct {
		name  string
		event kube.Event
		// wanted afterwards: Events on the node, and the count and type of the one with
		// this event's reason and message
		events int
		count  int32
		typ    string
	}{
		{name: "first", event: oom, events: 1, count: 1, typ: corev1.EventTypeWarning},
		{name: "repeat counts", event: oom, events: 1, count: 2, typ: corev1.EventTypeWarning},
		{name: "third", event: oom, events: 1, count: 3, typ: corev1.EventTypeWarning},
		{name: "other message is another event", events: 2, count: 1, typ: corev1.EventTypeWarning,
			event: kube.Event{Node: node, Reason: "OOMKilling", Message: "Killed process 99 (java)", Source: "kernel-monitor", Time: at}},
		{name: "info is Normal", events: 3, count: 1, typ: corev1.EventTypeNormal,
			event: kube.Event{Node: node, Reason: "NodeRebooted", Message: "boot id changed", Source: "health", Severity: "info"}},
	}
	for _, s := range steps {
		if err := e.Event(ctx, s.event); err != nil {
			t.Fatalf("%s: Event: %v", s.name, err)
		}
		evs := nodeEvents(ctx, t, k, node)
		if len(evs) != s.events {
			t.Fatalf("%s: %d events on node %s, want %d: %+v", s.name, len(evs), node, s.events, evs)
		}
		var found *corev1.Event
		for i := range evs {
			if evs[i].Reason == s.event.Reason && evs[i].Message == s.event.Message {
				found = &evs[i]
			}
		}
		if found == nil {
			t.Fatalf("%s: no event %s %q among %+v", s.name, s.event.Reason, s.event.Message, evs)
		}
		want := corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node, UID: node}
		if found.Count != s.count || found.Type != s.typ || found.Namespace != kube.EventNamespace ||
			found.Source != (corev1.EventSource{Component: s.event.Source, Host: node}) ||
			found.InvolvedObject != want {
			t.Errorf("%s: event count %d type %s namespace %s source %+v involved %+v, want count %d type %s namespace %s source %s/%s involved %+v",
				s.name, found.Count, found.Type, found.Namespace, found.Source, found.InvolvedObject,
				s.count, s.typ, kube.EventNamespace, s.event.Source, node, want)
		}
		if !s.event.Time.IsZero() && !found.FirstTimestamp.Time.Equal(s.event.Time) {
			t.Errorf("%s: firstTimestamp %s, want %s", s.name, found.FirstTimestamp.UTC(), s.event.Time.UTC())
		}
	}
	for action, want := range map[string]float64{"created": 3, "patched": 2, "dropped": 0} {
		if got := counter(t, reg, "nodewarden_alerter_kube_events_total", action); got != want {
			t.Errorf("events %s = %v, want %v", action, got, want)
		}
	}
	if err := e.Event(ctx, kube.Event{Node: node}); err == nil {
		t.Error("Event without a reason = nil, want an error")
	}
}

// testRoleMinimal checks that the role holds exactly the exporter's calls, and that each
// rule is needed: without it, the call that uses it is Forbidden.
func testRoleMinimal(t *testing.T, k *testenv.Kube) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	role := testenv.LoadClusterRole(t, "testdata/clusterrole.yaml")
	type grant struct{ resource, verb string }
	got := map[grant]bool{}
	for _, r := range role.Rules {
		if len(r.APIGroups) != 1 || r.APIGroups[0] != "" || len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: want core group resources only", r)
		}
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				got[grant{res, v}] = true
			}
		}
	}
	const node = "rbac-node"
	k.Kubelet(t, node)
	setCondition := func(e *kube.Exporter) error {
		return e.SetCondition(ctx, kube.Condition{Node: node, Type: "KernelDeadlock", Status: "True", Reason: "DockerHung"})
	}
	event := func(e *kube.Exporter) error {
		// The same Event twice: the second is a count patch.
		ev := kube.Event{Node: node, Reason: "OOMKilling", Message: "Killed process 7", Source: "kernel-monitor"}
		if err := e.Event(ctx, ev); err != nil {
			return err
		}
		return e.Event(ctx, ev)
	}
	tests := []struct {
		without grant
		call    func(*kube.Exporter) error
		op      string
	}{
		{without: grant{"nodes/status", "patch"}, call: setCondition, op: "condition"},
		{without: grant{"events", "create"}, call: event, op: "event"},
		{without: grant{"events", "patch"}, call: event, op: "event"},
	}
	if len(got) != len(tests) {
		t.Errorf("role grants %v, want exactly the %d grants tested here", got, len(tests))
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("without %s %s", tt.without.verb, tt.without.resource), func(t *testing.T) {
			if !got[tt.without] {
				t.Fatalf("role does not grant %s %s", tt.without.verb, tt.without.resource)
			}
			reduced := role.DeepCopy()
			reduced.Name = fmt.Sprintf("%s-reduced-%d", role.Name, i)
			reduced.Rules = nil
			for g := range got {
				if g != tt.without {
					reduced.Rules = append(reduced.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{g.resource}, Verbs: []string{g.verb}})
				}
			}
			c := k.ClientWithRole(t, *reduced, alerterNamespace, fmt.Sprintf("alerter-reduced-%d", i))
			e, reg := newExporter(t, c, kube.Options{})
			err := tt.call(e)
			if !apierrors.IsForbidden(err) {
				t.Fatalf("without %s %s: err = %v, want Forbidden", tt.without.verb, tt.without.resource, err)
			}
			if kube.Retryable(err) {
				t.Errorf("Retryable(%v) = true, want false", err)
			}
			if counter(t, reg, "nodewarden_alerter_kube_errors_total", tt.op) != 1 {
				t.Errorf("errors{op=%s} not counted once", tt.op)
			}
		})
	}
}

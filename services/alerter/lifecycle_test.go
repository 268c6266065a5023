package alerter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/alerter"
)

const node = "ip-10-0-0-1.ec2.internal"

// TestConditionAlertLifecycle: True → an active alert with the right labels and endsAt ≈ now +
// 4 × the resend interval; still active after two intervals and after an alerter restart;
// False → resolved; with the alerter gone for good, an alert resolves by itself.
func TestConditionAlertLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	e.start()
	const resend = 2 * time.Second
	began := time.Now()
	e.set(node, "KernelDeadlock", "True", "DockerHung")
	testenv.WaitFor(t, 30*time.Second, "the alert active", func() bool { return len(e.active("KernelDeadlock", node)) == 1 })
	a := e.active("KernelDeadlock", node)[0]
	want := map[string]string{"alertname": "KernelDeadlock", "node": node, "severity": "critical", "source": "kernel-monitor",
		"reason": "DockerHung", "cluster": "test"}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	if len(a.Labels) != len(want) {
		t.Errorf("labels %v, want exactly %v", a.Labels, want)
	}
	if d := time.Time(*a.EndsAt).Sub(time.Now().Add(4 * resend)); d > 2*time.Second || d < -2*time.Second {
		t.Errorf("endsAt %s, want ≈ now + 4 × %s", time.Time(*a.EndsAt), resend)
	}
	if a.Annotations["description"] != "DockerHung seen in the kernel log" || a.Annotations["summary"] == "" {
		t.Errorf("annotations %v", a.Annotations)
	}
	first := time.Time(*a.EndsAt)
	// Still active two intervals later, re-sent with a later endsAt.
	testenv.WaitFor(t, 30*time.Second, "two resend intervals with the alert active", func() bool {
		as := e.active("KernelDeadlock", node)
		return time.Since(began) > 2*resend && len(as) == 1 && time.Time(*as[0].EndsAt).After(first.Add(resend))
	})
	// And after a restart of the alerter.
	e.stop()
	restarted := time.Now()
	e.start()
	testenv.WaitFor(t, 30*time.Second, "re-sent by the restarted alerter", func() bool {
		return len(e.proxy.postedSince(restarted, "KernelDeadlock", node)) > 0 && len(e.active("KernelDeadlock", node)) == 1
	})

	e.set(node, "KernelDeadlock", "False", "DockerHung")
	testenv.WaitFor(t, 30*time.Second, "the alert resolved", func() bool { return len(e.active("KernelDeadlock", node)) == 0 })

	// Gone for good: Alertmanager resolves the alert at its endsAt.
	e.set(node, "ReadonlyFilesystem", "True", "FilesystemIsReadOnly")
	testenv.WaitFor(t, 30*time.Second, "the second alert active", func() bool { return len(e.active("ReadonlyFilesystem", node)) == 1 })
	e.stop()
	stopped := time.Now()
	testenv.WaitFor(t, 30*time.Second, "the alert resolving by itself", func() bool { return len(e.active("ReadonlyFilesystem", node)) == 0 })
	if d := time.Since(stopped); d > 4*resend+3*time.Second {
		t.Errorf("resolved %s after the alerter stopped, want within 4 × %s", d, resend)
	}
}

// TestReasonChangeResolvesOldAlert: the same condition True for another reason is another alert
// (reason is a label); the old one is resolved at once.
func TestReasonChangeResolvesOldAlert(t *testing.T) {
	e := newEnv(t, nil)
	e.start()
	e.set(node, "KernelDeadlock", "True", "DockerHung")
	testenv.WaitFor(t, 30*time.Second, "the alert active", func() bool { return len(e.active("KernelDeadlock", node)) == 1 })
	e.set(node, "KernelDeadlock", "True", "AUFSUmountHung")
	testenv.WaitFor(t, 30*time.Second, "only the new reason's alert active", func() bool {
		as := e.active("KernelDeadlock", node)
		return len(as) == 1 && as[0].Labels["reason"] == "AUFSUmountHung"
	})
}

// TestAlertmanagerRestart: an Alertmanager without persistence comes back knowing nothing; the
// firing alert is posted again as firing and the recently resolved one as resolved.
func TestAlertmanagerRestart(t *testing.T) {
	e := newEnv(t, nil)
	e.start()
	e.set(node, "KernelDeadlock", "True", "DockerHung")
	e.set(node, "ReadonlyFilesystem", "True", "FilesystemIsReadOnly")
	testenv.WaitFor(t, 30*time.Second, "both alerts active", func() bool {
		return len(e.active("KernelDeadlock", node)) == 1 && len(e.active("ReadonlyFilesystem", node)) == 1
	})
	e.set(node, "ReadonlyFilesystem", "False", "FilesystemIsReadOnly")
	testenv.WaitFor(t, 30*time.Second, "one resolved", func() bool { return len(e.active("ReadonlyFilesystem", node)) == 0 })
	e.am.Stop()
	e.am.Start(t)
	back := time.Now()
	testenv.WaitFor(t, time.Minute, "firing posted again as firing, resolved as resolved", func() bool {
		if len(e.active("KernelDeadlock", node)) != 1 {
			return false
		}
		for _, a := range e.proxy.postedSince(back, "ReadonlyFilesystem", node) {
			if !time.Time(a.EndsAt).After(time.Now()) {
				return true
			}
		}
		return false
	})
	if n := len(e.active("ReadonlyFilesystem", node)); n != 0 {
		t.Errorf("the resolved alert is active again after the restart (%d)", n)
	}
}

// TestAlertmanagerOutage: a condition that turns True while Alertmanager is down for 30 s is
// posted once it is back — retried, not lost (the resend interval is longer than the test).
func TestAlertmanagerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops Alertmanager for 30 s")
	}
	e := newEnv(t, func(c *alerter.Config) { c.ResendInterval = 10 * time.Minute })
	e.start()
	e.am.Stop()
	down := time.Now()
	e.set(node, "KernelDeadlock", "True", "DockerHung")
	<-time.After(30*time.Second - time.Since(down)) // the outage
	e.am.Start(t)
	testenv.WaitFor(t, time.Minute, "the alert posted after the outage", func() bool { return len(e.active("KernelDeadlock", node)) == 1 })
}

// TestEventAlerts: a temporary problem at or above --event-severity posts a short-lived alert
// (endsAt = its time + --event-ttl); one below does not.
func TestEventAlerts(t *testing.T) {
	e := newEnv(t, func(c *alerter.Config) { c.EventTTL = 3 * time.Minute })
	e.start()
	_, js := e.js.Connect(t)
	subj, _ := subject.Space{}.Problem(node)
	at := time.Now()
	for _, p := range []*nwv1.Problem{
		{Node: node, Time: timestamppb.New(at), Id: "ev:1", Source: "kernel-monitor", Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT,
			Reason: "OOMKilling", Message: "Killed process 4242 (java)", Severity: nwv1.Severity_SEVERITY_WARNING},
		{Node: node, Time: timestamppb.New(at), Id: "ev:2", Source: "kernel-monitor", Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT,
			Reason: "Chatty", Message: "info only", Severity: nwv1.Severity_SEVERITY_INFO},
	} {
		b, _ := proto.Marshal(p)
		if _, err := js.Publish(context.Background(), subj, b, jetstream.WithMsgID(p.Id)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 30*time.Second, "the event's alert", func() bool { return len(e.active("OOMKilling", node)) == 1 })
	a := e.active("OOMKilling", node)[0]
	if d := time.Time(*a.EndsAt).Sub(at.Add(3 * time.Minute)); d > time.Second || d < -time.Second {
		t.Errorf("endsAt %s, want the event's time + 3m", time.Time(*a.EndsAt))
	}
	if a.Labels["kind"] != "event" || a.Labels["severity"] != "warning" {
		t.Errorf("labels %v", a.Labels)
	}
	testenv.WaitFor(t, 30*time.Second, "the events consumer caught up", func() bool {
		return len(e.proxy.postedSince(at.Add(-time.Minute), "OOMKilling", node)) > 0
	})
	if n := len(e.proxy.postedSince(at.Add(-time.Minute), "Chatty", node)); n != 0 {
		t.Errorf("an info event below --event-severity was posted %d times", n)
	}
}

// TestOnePostPerBatch: the alerts of many nodes pending at once go to Alertmanager in one
// PostAlerts call — here the 100 conditions a restarted alerter finds in NW_CONDITIONS.
func TestOnePostPerBatch(t *testing.T) {
	e := newEnv(t, func(c *alerter.Config) { c.ResendInterval = 10 * time.Minute })
	const n = 100
	for i := range n {
		e.set(fmt.Sprintf("node-%03d.cluster.internal", i), "KernelDeadlock", "True", "DockerHung")
	}
	began := time.Now()
	e.start()
	testenv.WaitFor(t, 30*time.Second, "the first post", func() bool { return e.proxy.calls(began) > 0 })
	if got := e.proxy.largest(began); got != n {
		t.Errorf("the largest PostAlerts call held %d alerts, want all %d in one", got, n)
	}
	if got := e.proxy.calls(began); got != 1 {
		t.Errorf("%d PostAlerts calls, want 1", got)
	}
}

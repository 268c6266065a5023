package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Five nodes, one pod each, touch their reboot sentinel while an unrelated alert fires: every
// rebooter reports itself blocked by it, and none cordons or reboots. Once the alert is
// silenced the five reboot one after another (--concurrency 1): when a node's reboot program
// runs, that node and only it is cordoned and its pod is gone (drained); no two are down at
// once, each reboots once, all are uncordoned afterwards, and Slack hears each node's blocked,
// draining, rebooting and completed.
func TestScenarioRebootSentinel(t *testing.T) {
	var names []string
	for i := range 5 {
		names = append(names, fmt.Sprintf("worker-%d.e2e.internal", i+1))
	}
	e := Start(t, Options{
		Nodes: names, Alertmanager: true, Kube: true, Slack: true, Sink: true, Rebooters: true,
		Args: map[string][]string{"rebooter": {"--concurrency=1"}},
	})
	for i, n := range names {
		e.RunPod("apps", fmt.Sprintf("web-%d", i+1), n)
	}
	statuses := e.FollowRebootStatus()

	unrelated := map[string]string{"alertname": "E2EUnrelatedDiskFull", "severity": "critical"}
	if err := e.PostAlert(unrelated, time.Now().Add(time.Hour)); err != nil {
		e.Fatalf("post the unrelated alert: %v", err)
	}
	e.WaitFor(30*time.Second, "the unrelated alert active", func() bool {
		a, ok := e.FindAlert(unrelated)
		return ok && a.Status.State == "active"
	})
	for _, n := range e.Nodes {
		n.TouchSentinel(t)
	}
	e.WaitFor(60*time.Second, "every node blocked by the unrelated alert", func() bool {
		for _, n := range names {
			if !slices.ContainsFunc(statuses.Of(n), func(s *nwv1.RebootStatus) bool {
				return s.GetPhase() == nwv1.RebootPhase_REBOOT_PHASE_BLOCKED && strings.Contains(s.GetDetail(), unrelated["alertname"])
			}) {
				return false
			}
		}
		return true
	})
	if rs := e.Reboots(); len(rs) != 0 {
		e.Fatalf("%d reboots while an alert fires: %+v\nstatuses:%s", len(rs), rs, statuses)
	}
	if c, err := e.CordonedNodes(); err != nil || len(c) != 0 {
		e.Fatalf("cordoned while blocked: %v (%v)", c, err)
	}

	silenced := time.Now()
	if _, err := e.Silence(map[string]string{"alertname": unrelated["alertname"]}, time.Hour); err != nil {
		e.Fatalf("silence the unrelated alert: %v", err)
	}
	e.WaitFor(120*time.Second, "all five reboots completed", func() bool {
		for _, n := range names {
			if !statuses.Has(n, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED) {
				return false
			}
		}
		return true
	})
	t.Logf("five sequential reboots in %s after the silence", time.Since(silenced).Round(time.Millisecond))

	rs := e.Reboots()
	var order []string
	for _, r := range rs {
		order = append(order, r.Node)
		switch {
		case r.Start.Before(silenced):
			e.Fatalf("%s rebooted at %s, before the alert was silenced at %s", r.Node, r.Start, silenced)
		case r.KubeErr != nil:
			e.Fatalf("reading the Nodes at %s's reboot: %v", r.Node, r.KubeErr)
		case !slices.Equal(r.Cordoned, []string{r.Node}):
			e.Fatalf("at %s's reboot the cordoned nodes were %v, want only it\nstatuses:%s", r.Node, r.Cordoned, statuses)
		case len(r.Pods) != 0:
			e.Fatalf("at %s's reboot it still ran %v, want it drained", r.Node, r.Pods)
		}
	}
	t.Logf("reboot order: %v", order)
	sorted := slices.Sorted(slices.Values(order))
	if !slices.Equal(sorted, names) {
		e.Fatalf("reboots in order %v, want each of %v once\nstatuses:%s", order, names, statuses)
	}
	if m := maxConcurrentReboots(rs); m != 1 {
		e.Fatalf("%d nodes were down at once, want 1: %+v", m, rs)
	}
	if c, err := e.CordonedNodes(); err != nil || len(c) != 0 {
		e.Fatalf("cordoned after every reboot completed: %v (%v)", c, err)
	}
	for _, n := range names {
		var phases []nwv1.RebootPhase
		for _, s := range statuses.Of(n) {
			phases = append(phases, s.GetPhase())
		}
		d := slices.Index(phases, nwv1.RebootPhase_REBOOT_PHASE_DRAINING)
		r := slices.Index(phases, nwv1.RebootPhase_REBOOT_PHASE_REBOOTING)
		c := slices.Index(phases, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED)
		if d < 0 || r < d || c < r {
			e.Fatalf("%s's phases %v, want draining, rebooting, completed in that order", n, phases)
		}
	}
	e.WaitFor(30*time.Second, "Slack told each node's blocked, draining, rebooting and completed", func() bool {
		for _, n := range names {
			got := e.slackPhases(n)
			for _, p := range []string{"blocked", "draining", "rebooting", "completed"} {
				if got[p] == 0 {
					return false
				}
			}
		}
		return true
	})
	for _, n := range names {
		if got := e.slackPhases(n); got["rebooting"] != 1 || got["completed"] != 1 {
			e.Fatalf("Slack messages of %s by phase: %v, want one rebooting and one completed", n, got)
		}
	}
}

// slackPhases counts the Slack reboot messages about node by phase.
func (e *Env) slackPhases(node string) map[string]int {
	out := map[string]int{}
	for _, m := range e.Slack.Messages() {
		if f := m.Fields(); f["Node"] == node && f["Phase"] != "" {
			out[f["Phase"]]++
		}
	}
	return out
}

package healthrules

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

const s10 = 10 * time.Second

func TestHealth(t *testing.T) {
	kubeTrue := chg("KubeletUnhealthy", true, "KubeletUnhealthy", SourceHealth, 0)
	kubeFalse := chg("KubeletUnhealthy", false, "KubeletIsHealthy", SourceHealth, 0)
	tests := []struct {
		name  string
		steps []step
	}{
		{"K consecutive failures set, K' healthy clear, nothing repeats", []step{
			{in: fail("kubelet", 1, 0)},
			{in: fail("kubelet", 2, s10)},
			{in: fail("kubelet", 3, 2*s10), want: []string{kubeTrue},
				msg: "kubelet is failing: kubelet failed 3 consecutive checks over 20s: connection refused"},
			{in: fail("kubelet", 4, 3*s10)},
			{in: ok("kubelet", 5, 4*s10)},
			{in: ok("kubelet", 6, 5*s10), want: []string{kubeFalse}, msg: "kubelet is healthy"},
			{in: ok("kubelet", 7, 6*s10)},
		}},
		{"flapping below K never fires", []step{
			{in: fail("kubelet", 1, 0)}, {in: fail("kubelet", 2, s10)}, {in: ok("kubelet", 3, 2*s10)},
			{in: fail("kubelet", 4, 3*s10)}, {in: fail("kubelet", 5, 4*s10)}, {in: ok("kubelet", 6, 5*s10)},
			{in: fail("kubelet", 7, 6*s10)}, {in: fail("kubelet", 8, 7*s10)}, {in: ok("kubelet", 9, 8*s10)},
		}},
		{"a failure between healthy checks restarts the clearing count", []step{
			{in: fail("kubelet", 1, 0)}, {in: fail("kubelet", 2, s10)},
			{in: fail("kubelet", 3, 2*s10), want: []string{kubeTrue}},
			{in: ok("kubelet", 4, 3*s10)}, {in: fail("kubelet", 5, 4*s10)}, {in: ok("kubelet", 6, 5*s10)},
			{in: ok("kubelet", 7, 6*s10), want: []string{kubeFalse}},
			// and it fires again after K fresh failures
			{in: fail("kubelet", 8, 7*s10)}, {in: fail("kubelet", 9, 8*s10)},
			{in: fail("kubelet", 10, 9*s10), want: []string{kubeTrue}},
		}},
		{"a failure lasting D sets, counted from the first failed report", []step{
			{in: fail("containerd", 1, 0)},
			{in: fail("containerd", 2, 30*time.Second)},
			{in: fail("containerd", 3, 59*time.Second)},
			{in: fail("containerd", 4, time.Minute), want: []string{chg("RuntimeStuck", true, "RuntimeStuck", SourceHealth, 1)},
				msg: "containerd is stuck: containerd failed 4 consecutive checks over 1m: connection refused"},
			{in: ok("containerd", 5, 70*time.Second), want: []string{chg("RuntimeStuck", false, "RuntimeResponds", SourceHealth, 1)}},
		}},
		{"a healthy report restarts D", []step{
			{in: fail("containerd", 1, 0)},
			{in: ok("containerd", 2, 30*time.Second)},
			{in: fail("containerd", 3, 40*time.Second)},
			{in: fail("containerd", 4, 90*time.Second)},
			{in: fail("containerd", 5, 100*time.Second), want: []string{chg("RuntimeStuck", true, "RuntimeStuck", SourceHealth, 1)}},
		}},
		{"duplicates and late reports are ignored", []step{
			{in: fail("kubelet", 1, 0)},
			{in: fail("kubelet", 3, 2*s10)},
			{in: fail("kubelet", 3, 2*s10)}, // redelivered
			{in: fail("kubelet", 2, s10)},   // late
			{in: fail("kubelet", 1, 0)},
			{in: fail("kubelet", 4, 3*s10), want: []string{kubeTrue}},
			{in: ok("kubelet", 5, 4*s10)},
			{in: ok("kubelet", 5, 4*s10)}, // a repeated healthy report is not a second one
			{in: ok("kubelet", 4, 3*s10)},
			{in: ok("kubelet", 6, 5*s10), want: []string{kubeFalse}},
		}},
		{"sequences are per component", []step{
			{in: fail("kubelet", 10, 0)},
			{in: ok("containerd", 11, 0)},
			{in: fail("kubelet", 12, s10)},
			{in: ok("containerd", 13, s10)},
			{in: fail("kubelet", 14, 2*s10), want: []string{kubeTrue}},
		}},
		{"a restarted collector's lower sequence at a later time counts", []step{
			{in: fail("kubelet", 100, 0)},
			{in: fail("kubelet", 101, s10)},
			{in: fail("kubelet", 1, 2*s10), want: []string{kubeTrue}},
			{in: fail("kubelet", 101, s10)}, // the old run's report again: still ignored
			{in: ok("kubelet", 2, 3*s10)},
			{in: ok("kubelet", 3, 4*s10), want: []string{kubeFalse}},
		}},
		{"without a collector run, reports are ordered by time", []step{
			{in: fail("containerd", 1, time.Minute)},
			{in: fail("containerd", 2, 0)}, // newer sequence, earlier time: dropped
			{in: fail("containerd", 3, time.Minute+59*time.Second)},
			{in: fail("containerd", 4, 2*time.Minute), want: []string{chg("RuntimeStuck", true, "RuntimeStuck", SourceHealth, 1)}},
		}},
		{"a glob matches each unit, the condition holds while any unit fails", []step{
			{in: fail("systemd", 1, 0)}, // no slash: not systemd/*
			{in: fail("systemd/kubelet.service", 2, 0), want: []string{chg("SystemdUnitFailed", true, "UnitFailed", SourceHealth, 2)},
				msg: "systemd/kubelet.service failed a check: connection refused"},
			{in: fail("systemd/containerd.service", 3, 0)},
			{in: ok("systemd/kubelet.service", 4, s10)},
			{in: ok("systemd/containerd.service", 5, s10), want: []string{chg("SystemdUnitFailed", false, "UnitsActive", SourceHealth, 2)}},
		}},
		{"two rules share a condition: True while either fires", []step{
			{in: fail("crio", 1, 0)},
			{in: fail("crio", 2, s10), want: []string{chg("RuntimeDown", true, "RuntimeDown", SourceHealth, 3)}, msg: "runtime down: crio failed 2"},
			{in: fail("cri-dockerd", 3, 0)}, {in: fail("cri-dockerd", 4, s10)}, {in: fail("cri-dockerd", 5, 2*s10)},
			{in: fail("cri-dockerd", 6, 3*s10)}, {in: fail("cri-dockerd", 7, 4*s10)},
			{in: ok("crio", 8, 5*s10)},
			{in: ok("cri-dockerd", 9, 5*s10), want: []string{chg("RuntimeDown", false, "RuntimeUp", SourceHealth, 4)}},
			{in: fail("cri-dockerd", 10, 6*s10)}, {in: fail("cri-dockerd", 11, 7*s10)}, {in: fail("cri-dockerd", 12, 8*s10)},
			{in: fail("cri-dockerd", 13, 9*s10)},
			{in: fail("cri-dockerd", 14, 10*s10), want: []string{chg("RuntimeDown", true, "RuntimeDown", SourceHealth, 4)}, msg: "runtime down for good"},
		}},
		{"unmatched components and reports without time or component change nothing", []step{
			{in: fail("etcd", 1, 0)}, {in: fail("etcd", 2, s10)}, {in: fail("etcd", 3, 2*s10)}, {in: fail("etcd", 4, 3*s10)},
			{in: &nwv1.HealthReport{Component: "kubelet", Seq: 1}},
			{in: &nwv1.HealthReport{Component: "kubelet", Seq: 2}},
			{in: &nwv1.HealthReport{Component: "kubelet", Seq: 3}},
			{in: &nwv1.HealthReport{Seq: 4, Time: timestamppb.New(t0)}},
			{in: (*nwv1.HealthReport)(nil)},
		}},
	}
	c := testConfig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, c.NewNode(), tt.steps) })
	}
}

// Nodes are independent, and one Config serves them all.
func TestHealthNodesIndependent(t *testing.T) {
	c := testConfig(t)
	a, b := c.NewNode(), c.NewNode()
	run(t, a, []step{{in: fail("kubelet", 1, 0)}, {in: fail("kubelet", 2, s10)}})
	run(t, b, []step{{in: fail("kubelet", 1, 0)}})
	run(t, a, []step{{in: fail("kubelet", 3, 2*s10), want: []string{chg("KubeletUnhealthy", true, "KubeletUnhealthy", SourceHealth, 0)}}})
	run(t, b, []step{{in: fail("kubelet", 2, s10)}})
	if !a.Status("KubeletUnhealthy") || b.Status("KubeletUnhealthy") {
		t.Fatal("node states leaked into each other")
	}
}

func TestRestoreHealth(t *testing.T) {
	c := testConfig(t)
	kubeFalse := chg("KubeletUnhealthy", false, "KubeletIsHealthy", SourceHealth, 0)
	t.Run("restored True is cleared by K' healthy reports", func(t *testing.T) {
		n := c.NewNode()
		n.Restore("KubeletUnhealthy", true)
		run(t, n, []step{{in: ok("kubelet", 1, 0)}, {in: ok("kubelet", 2, s10), want: []string{kubeFalse}}})
	})
	t.Run("restored True is not announced again while failing", func(t *testing.T) {
		n := c.NewNode()
		n.Restore("KubeletUnhealthy", true)
		run(t, n, []step{{in: fail("kubelet", 1, 0)}, {in: fail("kubelet", 2, s10)}, {in: fail("kubelet", 3, 2*s10)},
			{in: fail("kubelet", 4, 3*s10)}, {in: ok("kubelet", 5, 4*s10)}, {in: ok("kubelet", 6, 5*s10), want: []string{kubeFalse}}})
	})
	t.Run("restored False forgets counts", func(t *testing.T) {
		n := c.NewNode()
		run(t, n, []step{{in: fail("kubelet", 1, 0)}, {in: fail("kubelet", 2, s10)}})
		n.Restore("KubeletUnhealthy", false)
		run(t, n, []step{{in: fail("kubelet", 3, 2*s10)}, {in: fail("kubelet", 4, 3*s10)},
			{in: fail("kubelet", 5, 4*s10), want: []string{chg("KubeletUnhealthy", true, "KubeletUnhealthy", SourceHealth, 0)}}})
	})
	t.Run("unknown condition is ignored", func(t *testing.T) {
		n := c.NewNode()
		n.Restore("NoSuchCondition", true)
		if n.Status("NoSuchCondition") {
			t.Fatal("unknown condition restored")
		}
	})
}

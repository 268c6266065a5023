package healthrules

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"
)

func TestDefaultsParse(t *testing.T) {
	c := Default()
	var got []string
	for _, cd := range c.Conditions() {
		got = append(got, cd.Type)
		if cd.Reason == "" || cd.Message == "" {
			t.Errorf("%s has no default reason or message: %+v", cd.Type, cd)
		}
	}
	want := []string{"KubeletUnhealthy", "ContainerRuntimeUnhealthy", "NodeMemoryLow", "DiskSpaceLow", "InodesLow", "MemoryThrashing"}
	if !slices.Equal(got, want) {
		t.Fatalf("default conditions %q, want %q", got, want)
	}
	onDisk, err := os.ReadFile("defaults.yaml")
	if err != nil || !bytes.Equal(onDisk, DefaultYAML()) {
		t.Fatalf("DefaultYAML differs from defaults.yaml (%v)", err)
	}
	if Default() == c || &Default().HealthRules[0] == &c.HealthRules[0] {
		t.Fatal("Default must return a fresh Config each call")
	}
}

func TestDefaultsBehave(t *testing.T) {
	low := func(seq uint64, at time.Duration) sample { return smp(seq, at).mem(0.03) }
	tests := []struct {
		name  string
		steps []step
	}{
		{"kubelet failing 3 checks", []step{
			{in: fail("kubelet", 1, 0)}, {in: fail("kubelet", 2, s10)},
			{in: fail("kubelet", 3, 2*s10), want: []string{chg("KubeletUnhealthy", true, "KubeletUnhealthy", SourceHealth, 0)}},
			{in: ok("kubelet", 4, 3*s10)},
			{in: ok("kubelet", 5, 4*s10), want: []string{chg("KubeletUnhealthy", false, "KubeletIsHealthy", SourceHealth, 0)}},
		}},
		{"kubelet failing for 2 minutes of slow checks", []step{
			{in: fail("kubelet", 1, 0)},
			{in: fail("kubelet", 2, 2*m), want: []string{chg("KubeletUnhealthy", true, "KubeletUnhealthy", SourceHealth, 0)}},
		}},
		{"containerd", []step{
			{in: fail("containerd", 1, 0)}, {in: fail("containerd", 2, s10)},
			{in: fail("containerd", 3, 2*s10), want: []string{chg("ContainerRuntimeUnhealthy", true, "ContainerRuntimeUnhealthy", SourceHealth, 1)},
				msg: "container runtime health check is failing: containerd failed 3 consecutive checks over 20s: connection refused"},
		}},
		{"memory available 3% for 5 minutes", []step{
			{in: low(1, 0)}, {in: low(2, 2*m)}, {in: low(3, 4*m+59*time.Second)},
			{in: low(4, 5*m), want: []string{chg("NodeMemoryLow", true, "NodeMemoryLow", SourceThreshold, 0)},
				msg: "memory available is low: memory_available_ratio is 3.0% (< 5.0%) for 5m"},
			{in: smp(5, 6*m).mem(0.12)},
			{in: smp(6, 7*m).mem(0.12), want: []string{chg("NodeMemoryLow", false, "NodeHasSufficientMemory", SourceThreshold, 0)}},
		}},
		{"disk 95% used for 5 minutes", []step{
			{in: smp(1, 0).fs("/", .95).fs("/var/lib/kubelet", .5)},
			{in: smp(2, 5*m).fs("/", .95).fs("/var/lib/kubelet", .5), want: []string{chg("DiskSpaceLow", true, "DiskSpaceLow", SourceThreshold, 1)},
				msg: "filesystem_used_ratio on / is 95.0% (> 90.0%) for 5m"},
			{in: smp(3, 6*m).fs("/", .88)}, // hysteresis: clears below 85 %
			{in: smp(4, 7*m).fs("/", .8), want: []string{chg("DiskSpaceLow", false, "NodeHasSufficientDiskSpace", SourceThreshold, 1)}},
		}},
		{"inodes 95% used for 5 minutes", []step{
			{in: smp(1, 0).fs("/", .5).inodes(.95)},
			{in: smp(2, 5*m).fs("/", .5).inodes(.95), want: []string{chg("InodesLow", true, "InodesLow", SourceThreshold, 2)}},
		}},
		{"memory thrashing by PSI", []step{
			{in: smp(1, 0).psiMemFull(20)},
			{in: smp(2, 5*m).psiMemFull(20), want: []string{chg("MemoryThrashing", true, "MemoryThrashing", SourceThreshold, 3)}},
			{in: smp(3, 6*m).psiMemFull(1)},
			{in: smp(4, 7*m).psiMemFull(1), want: []string{chg("MemoryThrashing", false, "NoMemoryThrashing", SourceThreshold, 3)}},
		}},
	}
	c := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, c.NewNode(), tt.steps) })
	}
	for _, comp := range []string{"containerd", "crio", "docker", "cri-dockerd", "cri"} {
		t.Run("runtime "+comp, func(t *testing.T) {
			run(t, c.NewNode(), []step{{in: fail(comp, 1, 0)}, {in: fail(comp, 2, s10)},
				{in: fail(comp, 3, 2*s10), want: []string{chg("ContainerRuntimeUnhealthy", true, "ContainerRuntimeUnhealthy", SourceHealth, 1)}}})
		})
	}
}

// A healthy node raises nothing in an hour of reports and samples.
func TestDefaultsQuiet(t *testing.T) {
	n := Default().NewNode()
	for i := range uint64(360) {
		at := time.Duration(i) * s10
		for _, comp := range []string{"kubelet", "containerd", "systemd/kubelet.service"} {
			if ch := n.Health(ok(comp, i*3+1, at)); ch != nil {
				t.Fatalf("healthy %s at %v: %v", comp, at, ch)
			}
		}
		if ch := n.Sample(smp(i+1, at).fs("/", .6).fs("/var/lib/containerd", .7).psiMemFull(0.5).NodeSample); ch != nil {
			t.Fatalf("healthy sample at %v: %v", at, ch)
		}
	}
}

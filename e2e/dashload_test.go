package e2e

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// The simulated load of the dashboard test: a few nodes, each with two pods of two
// containers, sampled every interval with cumulative counters that grow at steady,
// per-node rates, plus problems and reboot phases. Node 1 has something of every kind, so a
// dashboard narrowed to the first node (or namespace, or pod) still shows every panel.

const (
	loadNodes     = 5
	loadIntervals = 30
	loadStep      = 10 * time.Second
)

// loadContainer describes one simulated container; rates are per second.
type loadContainer struct {
	namespace, pod, name, image string
	qos                         nwv1.QOSClass
	cpu                         float64 // cores used
	quotaUsec                   int64   // -1 = unlimited
	throttled                   float64 // share of periods throttled
	limitBytes, workingSet      uint64
	readBps, writeBps           uint64
}

func loadContainers(node int) []loadContainer {
	const mib = 1 << 20
	f := float64(node)
	return []loadContainer{
		{"kube-system", fmt.Sprintf("coredns-%d", node), "coredns", "registry.k8s.io/coredns/coredns:v1.11.1",
			nwv1.QOSClass_QOS_CLASS_GUARANTEED, 0.05 * f, 100000, 0.02, 170 * mib, 40 * mib, 1024, 4096},
		{"kube-system", fmt.Sprintf("coredns-%d", node), "metrics", "registry.k8s.io/metrics:v0.1",
			nwv1.QOSClass_QOS_CLASS_GUARANTEED, 0.01, 10000, 0, 64 * mib, 10 * mib, 0, 512},
		{"shop", fmt.Sprintf("web-%d", node), "app", "ghcr.io/example/shop:1.4.2",
			nwv1.QOSClass_QOS_CLASS_BURSTABLE, 0.4 + 0.1*f, 50000, 0.3, 512 * mib, uint64(200+10*node) * mib, 1 << 20, 2 << 20},
		{"shop", fmt.Sprintf("web-%d", node), "proxy", "docker.io/envoyproxy/envoy:v1.30",
			nwv1.QOSClass_QOS_CLASS_BURSTABLE, 0.1, -1, 0, 0, 60 * mib, 8192, 16384},
	}
}

// loadMessages returns the messages of the load, the last samples at end.
func loadMessages(end time.Time) []proto.Message {
	at := func(i int) *timestamppb.Timestamp {
		return timestamppb.New(end.Add(-time.Duration(loadIntervals-1-i) * loadStep))
	}
	var msgs []proto.Message
	for n := 1; n <= loadNodes; n++ {
		node := fmt.Sprintf("node-%d", n)
		for i := range loadIntervals {
			msgs = append(msgs, nodeSample(node, n, i, at(i)), containerSamples(node, n, i, at(i)))
		}
	}
	condition := func(node string, i int, typ, reason string, status nwv1.ConditionStatus) *nwv1.Problem {
		return &nwv1.Problem{Node: node, Time: at(i), Id: fmt.Sprintf("%s-%s-%d", node, typ, i),
			Source: "kernel-monitor", Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: typ,
			Status: status, Reason: reason, Message: reason + " on " + node, Severity: nwv1.Severity_SEVERITY_CRITICAL}
	}
	event := func(node string, i int, reason string) *nwv1.Problem {
		return &nwv1.Problem{Node: node, Time: at(i), Id: fmt.Sprintf("%s-%s-%d", node, reason, i),
			Source: "kernel-monitor", Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: reason,
			Message: reason + " on " + node, Severity: nwv1.Severity_SEVERITY_WARNING}
	}
	oom := event("node-3", 12, "OOMKilling")
	oom.Namespace, oom.Pod, oom.Container = "shop", "web-3", "app"
	msgs = append(msgs,
		condition("node-1", 5, "KernelDeadlock", "DockerHung", nwv1.ConditionStatus_CONDITION_STATUS_TRUE),
		condition("node-2", 3, "ReadonlyFilesystem", "FilesystemIsReadOnly", nwv1.ConditionStatus_CONDITION_STATUS_TRUE),
		condition("node-2", 20, "ReadonlyFilesystem", "FilesystemIsNotReadOnly", nwv1.ConditionStatus_CONDITION_STATUS_FALSE),
		condition("node-3", 7, "FrequentKubeletRestart", "FrequentKubeletRestart", nwv1.ConditionStatus_CONDITION_STATUS_TRUE),
		event("node-1", 6, "TaskHung"), event("node-3", 10, "OOMKilling"), oom)
	reboot := func(node string, i int, phase nwv1.RebootPhase) *nwv1.RebootStatus {
		return &nwv1.RebootStatus{Node: node, Time: at(i), RequestId: node + "-req", Phase: phase,
			Detail: phase.String(), Seq: uint64(i), BootId: "boot-" + node}
	}
	for _, r := range []struct {
		node   string
		phases []nwv1.RebootPhase
		start  int
	}{
		{"node-1", []nwv1.RebootPhase{1, 3, 4, 5, 6}, 1},
		{"node-4", []nwv1.RebootPhase{1, 3, 4, 5, 6}, 20},
		{"node-5", []nwv1.RebootPhase{1, 2}, 22},
	} {
		for k, ph := range r.phases {
			msgs = append(msgs, reboot(r.node, r.start+k, ph))
		}
	}
	return msgs
}

// Wanted values of the cluster stat panels over the whole load, All nodes selected.
var loadStats = map[string]float64{
	"Nodes reporting":             loadNodes,
	"Nodes with a condition True": 2, // node-1, node-3; node-2's went back to False
	"Problems":                    6, // 3 events + 3 conditions turning True
	"Reboots completed":           2,
}

func nodeSample(node string, n, i int, t *timestamppb.Timestamp) *nwv1.NodeSample {
	const gib = 1 << 30
	secs := float64(i) * loadStep.Seconds()
	base := 1000 * float64(n) // counters that did not start at zero
	user, system, iowait, steal := 0.8+0.2*float64(n), 0.3, 0.05, 0.01
	const cores = 4
	return &nwv1.NodeSample{
		Node: node, Time: t, Seq: uint64(i + 1), BootId: "boot-" + node, UptimeSeconds: 3600 + secs,
		Cpu: &nwv1.CPUStats{
			UserSeconds: base + user*secs, SystemSeconds: base + system*secs, IowaitSeconds: base + iowait*secs,
			StealSeconds: base + steal*secs, IrqSeconds: base + 0.01*secs, SoftirqSeconds: base + 0.02*secs,
			IdleSeconds: base + (cores-user-system-iowait-steal-0.03)*secs, Cores: cores,
		},
		Load: &nwv1.LoadAverage{Load1: 0.5 * float64(n), Load5: 0.4 * float64(n), Load15: 0.3 * float64(n)},
		Memory: &nwv1.MemoryStats{TotalBytes: 16 * gib, AvailableBytes: uint64(16-4-n)*gib - uint64(i)<<20,
			FreeBytes: 2 * gib, CachedBytes: 4 * gib, BuffersBytes: gib / 4},
		Pressure: &nwv1.PressureStats{MemorySome: &nwv1.PressureLine{Avg10: 0.1*float64(n) + 0.01*float64(i),
			TotalUsec: uint64(1000 * i)}},
		Filesystems: []*nwv1.FilesystemStats{
			{Mountpoint: "/", Device: "/dev/sda1", Fstype: "ext4", SizeBytes: 100 * gib,
				AvailBytes: uint64(60-n)*gib - uint64(i)<<20, FreeBytes: uint64(65-n) * gib, Files: 6e6, FilesFree: 5e6},
			{Mountpoint: "/var/lib/containerd", Device: "/dev/sdb1", Fstype: "xfs", SizeBytes: 200 * gib,
				AvailBytes: 150 * gib, FreeBytes: 150 * gib, Files: 1e7, FilesFree: 9e6},
		},
		Networks: []*nwv1.NetworkStats{{Interface: "eth0",
			RxBytes: uint64(n)<<30 + uint64(i)*uint64(n)<<20, TxBytes: uint64(n)<<29 + uint64(i)<<19,
			RxPackets: uint64(1000 * i), TxPackets: uint64(800 * i)}},
	}
}

func containerSamples(node string, n, i int, t *timestamppb.Timestamp) *nwv1.ContainerSamples {
	secs := float64(i) * loadStep.Seconds()
	cs := &nwv1.ContainerSamples{Node: node, Time: t, Seq: uint64(i + 1)}
	pods := map[string]*nwv1.PodNetwork{}
	for k, c := range loadContainers(n) {
		periods := uint64(10 * secs) // 100 ms CFS period
		cpu := &nwv1.ContainerCPU{UsageSeconds: 50 + c.cpu*secs, UserSeconds: 40 + 0.8*c.cpu*secs,
			SystemSeconds: 10 + 0.2*c.cpu*secs, QuotaUsec: c.quotaUsec, PeriodUsec: 100000, Shares: 1024}
		if c.quotaUsec > 0 {
			cpu.Periods, cpu.ThrottledPeriods = periods, uint64(c.throttled*float64(periods))
			cpu.ThrottledSeconds = c.throttled * secs * 0.05
		}
		cs.Containers = append(cs.Containers, &nwv1.ContainerSample{
			Id: fmt.Sprintf("%s-%x", node, k), PodUid: "uid-" + c.pod, QosClass: c.qos, Name: c.name,
			PodName: c.pod, Namespace: c.namespace, Image: c.image, CgroupVersion: 2, Cpu: cpu,
			Memory: &nwv1.ContainerMemory{UsageBytes: c.workingSet + 20<<20, WorkingSetBytes: c.workingSet + uint64(i)<<16,
				RssBytes: c.workingSet, CacheBytes: 20 << 20, LimitBytes: c.limitBytes},
			Blkio: &nwv1.ContainerBlkio{ReadBytes: c.readBps * uint64(secs), WriteBytes: c.writeBps*uint64(secs) + 1<<20,
				ReadOps: uint64(secs), WriteOps: 2 * uint64(secs)},
			Pids: uint64(5 + k),
		})
		if pods[c.pod] == nil {
			rate := uint64(10_000 * n)
			pods[c.pod] = &nwv1.PodNetwork{PodUid: "uid-" + c.pod, PodName: c.pod, Namespace: c.namespace,
				Interfaces: []*nwv1.NetworkStats{{Interface: "eth0", RxBytes: rate * uint64(secs), TxBytes: rate / 2 * uint64(secs),
					RxPackets: 10 * uint64(secs), TxPackets: 8 * uint64(secs)}}}
			cs.Pods = append(cs.Pods, pods[c.pod])
		}
	}
	return cs
}

package promexp

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.prom from the current output (review the diff!)")

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func containerSamples(node string, at time.Time, cpuUsage float64) *nwv1.ContainerSamples {
	return &nwv1.ContainerSamples{
		Node: node, Time: ts(at), Seq: 1,
		Containers: []*nwv1.ContainerSample{{
			Id: "c0ffee", PodUid: "uid-1", QosClass: nwv1.QOSClass_QOS_CLASS_BURSTABLE,
			Name: "app", PodName: "web-1", Namespace: "shop", Image: "registry.example/web:1.2",
			CgroupPath: "/kubepods/burstable/poduid-1/c0ffee", CgroupVersion: 2,
			Cpu: &nwv1.ContainerCPU{UsageSeconds: cpuUsage, UserSeconds: 8, SystemSeconds: 4, Periods: 1000,
				ThrottledPeriods: 300, ThrottledSeconds: 2.5, QuotaUsec: 50000, PeriodUsec: 100000, Shares: 512},
			Memory: &nwv1.ContainerMemory{UsageBytes: 300 << 20, WorkingSetBytes: 200 << 20, RssBytes: 150 << 20,
				CacheBytes: 100 << 20, LimitBytes: 512 << 20, OomEvents: 1, SwapBytes: 0},
			Blkio: &nwv1.ContainerBlkio{ReadBytes: 4096, WriteBytes: 8192, ReadOps: 1, WriteOps: 2},
			Pids:  7,
		}, {
			// Best effort: no quota, no memory limit, no blkio read.
			Id: "beef", PodUid: "uid-2", QosClass: nwv1.QOSClass_QOS_CLASS_BEST_EFFORT,
			Name: "job", PodName: "batch-x", Namespace: "jobs", Image: "busybox",
			CgroupPath: "/kubepods/besteffort/poduid-2/beef", CgroupVersion: 2,
			Cpu:    &nwv1.ContainerCPU{UsageSeconds: 1, UserSeconds: 0.5, SystemSeconds: 0.5, QuotaUsec: -1, PeriodUsec: 100000, Shares: 2},
			Memory: &nwv1.ContainerMemory{UsageBytes: 1 << 20, WorkingSetBytes: 1 << 20},
		}},
		Pods: []*nwv1.PodNetwork{{PodUid: "uid-1", PodName: "web-1", Namespace: "shop",
			Interfaces: []*nwv1.NetworkStats{{Interface: "eth0", RxBytes: 1000, RxPackets: 10, RxErrors: 1, RxDropped: 2,
				TxBytes: 2000, TxPackets: 20, TxErrors: 3, TxDropped: 4}}}},
	}
}

func nodeSample(node string, at time.Time) *nwv1.NodeSample {
	return &nwv1.NodeSample{
		Node: node, Time: ts(at), Seq: 1, BootId: "b1", UptimeSeconds: 3600,
		Cpu: &nwv1.CPUStats{UserSeconds: 100, NiceSeconds: 1, SystemSeconds: 50, IdleSeconds: 1000, IowaitSeconds: 5,
			IrqSeconds: 0.5, SoftirqSeconds: 0.25, StealSeconds: 0, Cores: 4},
		Load:   &nwv1.LoadAverage{Load1: 0.5, Load5: 0.25, Load15: 0.125},
		Memory: &nwv1.MemoryStats{TotalBytes: 8 << 30, AvailableBytes: 4 << 30, FreeBytes: 2 << 30, CachedBytes: 1 << 30, BuffersBytes: 1 << 20, SwapTotalBytes: 0, SwapFreeBytes: 0},
		Pressure: &nwv1.PressureStats{CpuSome: &nwv1.PressureLine{TotalUsec: 1500000}, MemorySome: &nwv1.PressureLine{TotalUsec: 2000000},
			MemoryFull: &nwv1.PressureLine{TotalUsec: 1000000}, IoSome: &nwv1.PressureLine{TotalUsec: 3000000}, IoFull: &nwv1.PressureLine{TotalUsec: 500000}},
		Filesystems: []*nwv1.FilesystemStats{{Mountpoint: "/", Device: "/dev/sda1", Fstype: "ext4",
			SizeBytes: 100 << 30, FreeBytes: 60 << 30, AvailBytes: 55 << 30, Files: 1000000, FilesFree: 900000}},
		Networks: []*nwv1.NetworkStats{{Interface: "eth0", RxBytes: 5000, RxPackets: 50, RxErrors: 1, RxDropped: 2,
			TxBytes: 6000, TxPackets: 60, TxErrors: 3, TxDropped: 4}},
	}
}

func problem(node, id string, kind nwv1.ProblemKind, typ, reason string, status nwv1.ConditionStatus) *nwv1.Problem {
	return &nwv1.Problem{Node: node, Time: ts(t0), Id: id, Source: "kernel-monitor", Kind: kind, Type: typ,
		Reason: reason, Status: status, Severity: nwv1.Severity_SEVERITY_WARNING}
}

const (
	event = nwv1.ProblemKind_PROBLEM_KIND_EVENT
	cond  = nwv1.ProblemKind_PROBLEM_KIND_CONDITION
	isT   = nwv1.ConditionStatus_CONDITION_STATUS_TRUE
	isF   = nwv1.ConditionStatus_CONDITION_STATUS_FALSE
)

// TestExposition observes messages and compares the whole exposition with testdata.
func TestExposition(t *testing.T) {
	const node = "ip-10-0-0-1.ec2.internal"
	tests := []struct {
		name   string
		golden string
		msgs   []proto.Message
	}{
		{name: "containers", golden: "containers.prom", msgs: []proto.Message{
			containerSamples(node, t0.Add(-10*time.Second), 10),
			containerSamples(node, t0, 12.5),
			containerSamples(node, t0.Add(-20*time.Second), 1), // a redelivery: ignored
		}},
		{name: "duplicates", golden: "duplicates.prom", msgs: []proto.Message{func() proto.Message {
			// The same container twice, and a pod re-created under its name without containers
			// to tell their cgroups apart: one series each, not a failed scrape.
			m := containerSamples(node, t0, 3)
			m.Containers = append(m.Containers[:1], m.Containers[0])
			m.Pods = []*nwv1.PodNetwork{{PodUid: "old", PodName: "db-0", Namespace: "shop", Interfaces: []*nwv1.NetworkStats{{Interface: "eth0", RxBytes: 1}}},
				{PodUid: "new", PodName: "db-0", Namespace: "shop", Interfaces: []*nwv1.NetworkStats{{Interface: "eth0", RxBytes: 1}}}}
			return m
		}()}},
		{name: "node", golden: "node.prom", msgs: []proto.Message{nodeSample(node, t0)}},
		{name: "health", golden: "health.prom", msgs: []proto.Message{
			&nwv1.HealthReport{Node: node, Time: ts(t0), Component: "kubelet", Healthy: true, Latency: durationpb.New(25 * time.Millisecond)},
			&nwv1.HealthReport{Node: node, Time: ts(t0), Component: "containerd", Healthy: false, RestartCount: 2, Latency: durationpb.New(time.Second)},
		}},
		{name: "problems", golden: "problems.prom", msgs: []proto.Message{
			problem(node, "p1", event, "", "OOMKilling", 0),
			problem(node, "p2", event, "", "OOMKilling", 0),
			problem(node, "p2", event, "", "OOMKilling", 0), // redelivered: counted once
			problem(node, "p3", event, "", "TaskHung", 0),
			problem(node, "p4", cond, "KernelDeadlock", "AUFSUmountHung", isT),
			problem(node, "p5", cond, "KernelDeadlock", "DockerHung", isT),
			problem(node, "p6", cond, "ReadonlyFilesystem", "FilesystemIsReadOnly", isT),
			problem(node, "p7", cond, "ReadonlyFilesystem", "FilesystemIsNotReadOnly", isF),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore(Options{SampleInterval: 10 * time.Second}, func() time.Time { return t0 })
			for _, m := range tc.msgs {
				if err := s.Observe(m, t0); err != nil {
					t.Fatal(err)
				}
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(s)
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(golden, exposition(t, reg), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := os.Open(golden)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := testutil.GatherAndCompare(reg, f); err != nil {
				t.Error(err)
			}
			if n, want := s.Series(), countSamples(t, reg); n != want && tc.name != "duplicates" {
				t.Errorf("Series() = %d, exposition has %d", n, want)
			}
		})
	}
}

// exposition is the text format of everything reg gathers.
func exposition(t testing.TB, reg prometheus.Gatherer) []byte {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func countSamples(t testing.TB, reg prometheus.Gatherer) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

func TestObserveRejects(t *testing.T) {
	s := NewStore(Options{}, nil)
	for _, m := range []proto.Message{&nwv1.NodeSample{}, &nwv1.Problem{Reason: "x"}, &nwv1.LogBatch{Node: "n"}} {
		if err := s.Observe(m, t0); err == nil {
			t.Errorf("Observe(%T without node or of a foreign kind) = nil, want an error", m)
		}
	}
	if s.Nodes() != 0 {
		t.Errorf("Nodes() = %d after rejected messages, want 0", s.Nodes())
	}
}

// A container's labels are reused from the previous sample only while what they are made of
// holds: a new image, pod name or interface shows at once, and no old label stays behind.
func TestLabelsFollowIdentity(t *testing.T) {
	s := NewStore(Options{SampleInterval: 10 * time.Second}, func() time.Time { return t0.Add(time.Second) })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	at := t0
	if err := s.Observe(containerSamples("node-a", at, 1), at); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		change func(m *nwv1.ContainerSamples)
		want   string // a line of the exposition after the change
		gone   string // text no longer in it
	}{
		{"same identity", func(m *nwv1.ContainerSamples) {}, `image="registry.example/web:1.2"`, `image="registry.example/web:1.3"`},
		{"new image", func(m *nwv1.ContainerSamples) { m.Containers[0].Image = "registry.example/web:1.3" },
			`image="registry.example/web:1.3"`, `image="registry.example/web:1.2"`},
		{"order changed", func(m *nwv1.ContainerSamples) {
			m.Containers[0].Image = "registry.example/web:1.3"
			m.Containers[0], m.Containers[1] = m.Containers[1], m.Containers[0]
		}, `image="registry.example/web:1.3",name="c0ffee"`, `pod="batch-y"`},
		{"pod renamed", func(m *nwv1.ContainerSamples) {
			m.Containers[0].Image = "registry.example/web:1.3"
			m.Containers[1].PodName = "batch-y"
		}, `pod="batch-y"`, `pod="batch-x"`},
		{"interface renamed", func(m *nwv1.ContainerSamples) {
			m.Containers[0].Image = "registry.example/web:1.3"
			m.Containers[1].PodName = "batch-y"
			m.Pods[0].Interfaces[0].Interface = "net1"
		}, `interface="net1"`, `interface="eth0"`},
	} {
		at = at.Add(time.Millisecond) // newer than the one held, or it is taken for a redelivery
		m := containerSamples("node-a", at, 2)
		tt.change(m)
		if err := s.Observe(m, at); err != nil {
			t.Fatal(err)
		}
		out := string(exposition(t, reg))
		if !strings.Contains(out, tt.want) {
			t.Errorf("%s: exposition lacks %s", tt.name, tt.want)
		}
		if strings.Contains(out, tt.gone) {
			t.Errorf("%s: exposition still has %s", tt.name, tt.gone)
		}
	}
}

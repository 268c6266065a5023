package cgroups

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

const (
	burstable  = nwv1.QOSClass_QOS_CLASS_BURSTABLE
	bestEffort = nwv1.QOSClass_QOS_CLASS_BEST_EFFORT
	guaranteed = nwv1.QOSClass_QOS_CLASS_GUARANTEED
)

func iface(name string, rx, rxp, rxe, rxd, tx, txp, txe, txd uint64) *nwv1.NetworkStats {
	return &nwv1.NetworkStats{Interface: name, RxBytes: rx, RxPackets: rxp, RxErrors: rxe, RxDropped: rxd,
		TxBytes: tx, TxPackets: txp, TxErrors: txe, TxDropped: txd}
}

// The expected samples are worked out by hand from the files under testdata (made with the
// formats of Linux 6.x), not by the code under test: working set = usage - inactive_file,
// cpu.weight w back to shares as 2 + (w-1)*262142/9999.
var (
	v2SystemdWant = []*nwv1.ContainerSample{{
		Id:            "5e8d1c4b7a0f3e6d9c2b5a8f1e4d7c0b3a6f9e2d5c8b1a4f7e0d3c6b9a2f5e8d",
		PodUid:        "0a9f3c6e-1d2b-4e8f-a7c5-3b9d1e2f4a6c",
		QosClass:      bestEffort,
		CgroupPath:    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a9f3c6e_1d2b_4e8f_a7c5_3b9d1e2f4a6c.slice/cri-containerd-5e8d1c4b7a0f3e6d9c2b5a8f1e4d7c0b3a6f9e2d5c8b1a4f7e0d3c6b9a2f5e8d.scope",
		CgroupVersion: 2,
		Cpu:           &nwv1.ContainerCPU{UsageSeconds: 9.876543, UserSeconds: 8, SystemSeconds: 1.876543, QuotaUsec: -1, PeriodUsec: 100000, Shares: 2},
		Memory:        &nwv1.ContainerMemory{UsageBytes: 52428800, WorkingSetBytes: 52428800 - 10485760, RssBytes: 31457280, CacheBytes: 20971520},
		Blkio:         &nwv1.ContainerBlkio{},
		Pids:          3,
	}, {
		Id:            "1f0e4d0f6a2c4b8e9d7c5a3b1e0f2d4c6a8b0c2e4f6a8b0d2c4e6f8a0b2c4d6e",
		PodUid:        "6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b",
		QosClass:      burstable,
		CgroupPath:    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b1c5e2a_3f4d_4c1e_9a7b_2d8e0f1a3c5b.slice/cri-containerd-1f0e4d0f6a2c4b8e9d7c5a3b1e0f2d4c6a8b0c2e4f6a8b0d2c4e6f8a0b2c4d6e.scope",
		CgroupVersion: 2,
		Cpu:           &nwv1.ContainerCPU{UsageSeconds: 0.041237, UserSeconds: 0.010302, SystemSeconds: 0.030935, QuotaUsec: -1, PeriodUsec: 100000, Shares: 2},
		Memory:        &nwv1.ContainerMemory{UsageBytes: 274432, WorkingSetBytes: 274432, RssBytes: 98304},
		Blkio:         &nwv1.ContainerBlkio{},
		Pids:          1,
	}, {
		Id:            "9c2b7e5d3a1f4e6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e",
		PodUid:        "6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b",
		QosClass:      burstable,
		CgroupPath:    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b1c5e2a_3f4d_4c1e_9a7b_2d8e0f1a3c5b.slice/cri-containerd-9c2b7e5d3a1f4e6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e.scope",
		CgroupVersion: 2,
		Cpu: &nwv1.ContainerCPU{UsageSeconds: 183.456789, UserSeconds: 150.123456, SystemSeconds: 33.333333,
			Periods: 51234, ThrottledPeriods: 8123, ThrottledSeconds: 402.311987, QuotaUsec: 50000, PeriodUsec: 100000, Shares: 237},
		Memory: &nwv1.ContainerMemory{UsageBytes: 187346944, WorkingSetBytes: 187346944 - 41943040, RssBytes: 120000512,
			CacheBytes: 62914560, LimitBytes: 268435456},
		Blkio: &nwv1.ContainerBlkio{ReadBytes: 2183168 + 4096, WriteBytes: 40960, ReadOps: 97 + 1, WriteOps: 8},
		Pids:  12,
	}, {
		Id:            "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b",
		PodUid:        "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
		QosClass:      guaranteed,
		CgroupPath:    "/kubepods.slice/kubepods-podc3d4e5f6_a7b8_4c9d_8e0f_1a2b3c4d5e6f.slice/cri-containerd-7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b.scope",
		CgroupVersion: 2,
		Cpu: &nwv1.ContainerCPU{UsageSeconds: 3600.123456, UserSeconds: 3000, SystemSeconds: 600.123456,
			Periods: 360000, ThrottledPeriods: 120, ThrottledSeconds: 1.53, QuotaUsec: 100000, PeriodUsec: 100000, Shares: 998},
		Memory: &nwv1.ContainerMemory{UsageBytes: 530579456, WorkingSetBytes: 530579456 - 4194304, RssBytes: 520093696,
			CacheBytes: 10485760, LimitBytes: 536870912, OomEvents: 2},
		Blkio: &nwv1.ContainerBlkio{ReadBytes: 104857600, WriteBytes: 52428800, ReadOps: 2560, WriteOps: 1280},
		Pids:  27,
	}}
	v2SystemdPods = []*nwv1.PodNetwork{
		{PodUid: "6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b", Interfaces: []*nwv1.NetworkStats{iface("eth0", 1839021, 10233, 0, 2, 902113, 8120, 0, 0)}},
		{PodUid: "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f", Interfaces: []*nwv1.NetworkStats{
			iface("eth0", 98123456789, 71234567, 3, 12, 45123456789, 51234567, 1, 0), iface("net1", 1024, 8, 0, 0, 2048, 16, 0, 0)}},
	}

	v2CgroupfsWant = []*nwv1.ContainerSample{{
		Id:            "c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2",
		PodUid:        "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b",
		QosClass:      bestEffort,
		CgroupPath:    "/kubepods/besteffort/pod1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b/c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2",
		CgroupVersion: 2,
		Cpu:           &nwv1.ContainerCPU{UsageSeconds: 0.0012, UserSeconds: 0.0008, SystemSeconds: 0.0004, QuotaUsec: -1, PeriodUsec: 100000, Shares: 2},
		// inactive_file (4915200) above usage (4096000): the working set floors at 0. No
		// memory.swap.current (swap accounting off): swap 0, not an error.
		Memory: &nwv1.ContainerMemory{UsageBytes: 4096000, WorkingSetBytes: 0, CacheBytes: 4915200},
		Blkio:  &nwv1.ContainerBlkio{},
		Pids:   1,
	}, {
		Id:            "3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d",
		PodUid:        "8e7d6c5b-4a39-4281-b0fe-dcba98765432",
		QosClass:      burstable,
		CgroupPath:    "/kubepods/burstable/pod8e7d6c5b-4a39-4281-b0fe-dcba98765432/3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d",
		CgroupVersion: 2,
		Cpu: &nwv1.ContainerCPU{UsageSeconds: 77, UserSeconds: 60, SystemSeconds: 17, Periods: 9000, ThrottledPeriods: 450,
			ThrottledSeconds: 33, QuotaUsec: 25000, PeriodUsec: 100000, Shares: 80},
		Memory: &nwv1.ContainerMemory{UsageBytes: 96468992, WorkingSetBytes: 96468992 - 8388608, RssBytes: 67108864,
			CacheBytes: 29360128, LimitBytes: 134217728},
		Blkio: &nwv1.ContainerBlkio{ReadBytes: 1048576, WriteBytes: 2097152, ReadOps: 64, WriteOps: 128},
		Pids:  5,
	}, {
		Id:            "e0f1e2d3c4b5a6978899aabbccddeeff00112233445566778899aabbccddeeff",
		PodUid:        "2468ace0-1357-49bd-8f02-468ace013579",
		QosClass:      guaranteed,
		CgroupPath:    "/kubepods/pod2468ace0-1357-49bd-8f02-468ace013579/e0f1e2d3c4b5a6978899aabbccddeeff00112233445566778899aabbccddeeff",
		CgroupVersion: 2,
		Cpu: &nwv1.ContainerCPU{UsageSeconds: 5, UserSeconds: 4, SystemSeconds: 1, Periods: 100, QuotaUsec: 200000,
			PeriodUsec: 100000, Shares: 2046},
		Memory: &nwv1.ContainerMemory{UsageBytes: 209715200, WorkingSetBytes: 209715200 - 20971520, RssBytes: 157286400,
			CacheBytes: 52428800, LimitBytes: 268435456, SwapBytes: 1048576},
		Blkio: &nwv1.ContainerBlkio{ReadBytes: 512, WriteBytes: 1024, ReadOps: 1, WriteOps: 2},
		Pids:  4,
	}}
	v2CgroupfsPods = []*nwv1.PodNetwork{
		{PodUid: "8e7d6c5b-4a39-4281-b0fe-dcba98765432", Interfaces: []*nwv1.NetworkStats{iface("eth0", 5000, 50, 1, 0, 6000, 60, 0, 1)}},
		{PodUid: "2468ace0-1357-49bd-8f02-468ace013579", Interfaces: []*nwv1.NetworkStats{iface("eth0", 123, 4, 0, 0, 456, 7, 0, 0)}},
	}

	v1Want = []*nwv1.ContainerSample{{
		Id:            "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		PodUid:        "9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a",
		QosClass:      bestEffort,
		CgroupPath:    "/kubepods/besteffort/pod9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a/fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		CgroupVersion: 1,
		Cpu:           &nwv1.ContainerCPU{UsageSeconds: 0.123456789, UserSeconds: 0.09, SystemSeconds: 0.03, QuotaUsec: -1, PeriodUsec: 100000, Shares: 2},
		// memory.limit_in_bytes 9223372036854771712 is v1's "no limit".
		Memory: &nwv1.ContainerMemory{UsageBytes: 10485760, WorkingSetBytes: 10485760 - 1048576, RssBytes: 6291456,
			CacheBytes: 2097152, SwapBytes: 4096},
		Blkio: &nwv1.ContainerBlkio{},
		Pids:  2,
	}, {
		Id:            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		PodUid:        "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
		QosClass:      burstable,
		CgroupPath:    "/kubepods/burstable/pod5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		CgroupVersion: 1,
		Cpu: &nwv1.ContainerCPU{UsageSeconds: 2.345678901, UserSeconds: 1.8, SystemSeconds: 0.45, Periods: 1200,
			ThrottledPeriods: 300, ThrottledSeconds: 15, QuotaUsec: 20000, PeriodUsec: 100000, Shares: 102},
		Memory: &nwv1.ContainerMemory{UsageBytes: 73728000, WorkingSetBytes: 73728000 - 12582912, RssBytes: 46137344,
			CacheBytes: 25165824, LimitBytes: 134217728},
		Blkio: &nwv1.ContainerBlkio{ReadBytes: 2 * 4096000, WriteBytes: 2 * 1024000, ReadOps: 200, WriteOps: 50},
		Pids:  7,
	}, {
		Id:            "aaaaaaaaaaaa5555555555555555bbbbbbbbbbbbbbbb0000000000000000cccc",
		PodUid:        "13579bdf-2468-4ace-9bdf-13579bdf2468",
		QosClass:      guaranteed,
		CgroupPath:    "/kubepods/pod13579bdf-2468-4ace-9bdf-13579bdf2468/aaaaaaaaaaaa5555555555555555bbbbbbbbbbbbbbbb0000000000000000cccc",
		CgroupVersion: 1,
		Cpu: &nwv1.ContainerCPU{UsageSeconds: 98.7654321, UserSeconds: 80, SystemSeconds: 15, Periods: 500000,
			ThrottledPeriods: 12, ThrottledSeconds: 0.098, QuotaUsec: 200000, PeriodUsec: 100000, Shares: 2048},
		Memory: &nwv1.ContainerMemory{UsageBytes: 1048576000, WorkingSetBytes: 1048576000 - 52428800, RssBytes: 943718400,
			CacheBytes: 104857600, LimitBytes: 1073741824, OomEvents: 1},
		Blkio: &nwv1.ContainerBlkio{WriteBytes: 1073741824, WriteOps: 262144},
		Pids:  31,
	}}
	v1Pods = []*nwv1.PodNetwork{
		{PodUid: "13579bdf-2468-4ace-9bdf-13579bdf2468", Interfaces: []*nwv1.NetworkStats{iface("eth0", 777, 7, 0, 0, 888, 8, 0, 0)}},
	}

	malformedWant = []*nwv1.ContainerSample{{
		Id:            "600d600d600d0000000000000000000000000000000000000000000000000002",
		PodUid:        "bad00000-0000-4000-8000-000000000001",
		QosClass:      burstable,
		CgroupPath:    "/kubepods/burstable/podbad00000-0000-4000-8000-000000000001/600d600d600d0000000000000000000000000000000000000000000000000002",
		CgroupVersion: 2,
		// No io.stat or memory.swap.current (controllers not enabled): zeros, no error.
		Cpu:    &nwv1.ContainerCPU{UsageSeconds: 2, UserSeconds: 1.5, SystemSeconds: 0.5, QuotaUsec: -1, PeriodUsec: 100000, Shares: 2597},
		Memory: &nwv1.ContainerMemory{UsageBytes: 8192, WorkingSetBytes: 4096, RssBytes: 4096, CacheBytes: 4096},
		Blkio:  &nwv1.ContainerBlkio{},
		Pids:   1,
	}, {
		// Every file but memory.current and memory.max is broken; what parses is kept.
		Id:            "badbadbadbad0000000000000000000000000000000000000000000000000001",
		PodUid:        "bad00000-0000-4000-8000-000000000001",
		QosClass:      burstable,
		CgroupPath:    "/kubepods/burstable/podbad00000-0000-4000-8000-000000000001/badbadbadbad0000000000000000000000000000000000000000000000000001",
		CgroupVersion: 2,
		Cpu:           &nwv1.ContainerCPU{UserSeconds: 0.0001, SystemSeconds: 0.00005, Periods: 10, ThrottledSeconds: 0.000007},
		Memory:        &nwv1.ContainerMemory{UsageBytes: 1000, WorkingSetBytes: 1000},
		Blkio:         &nwv1.ContainerBlkio{},
	}}
	malformedPods = []*nwv1.PodNetwork{{PodUid: "bad00000-0000-4000-8000-000000000001"}}
)

func TestCollectTrees(t *testing.T) {
	tests := []struct {
		name     string
		root     string
		want     []*nwv1.ContainerSample
		wantPods []*nwv1.PodNetwork
		// first pass: every file and limit of every container, cgroup.procs and net/dev per pod;
		// second: the limits are not read again.
		wantFirst, wantSecond Stats
	}{{
		name: "v2 systemd", root: "testdata/v2-systemd", want: v2SystemdWant, wantPods: v2SystemdPods,
		// 4 containers × (7 files + 3 limits) + 3 cgroup.procs + 2 net/dev; held: 4 × 7 + 3 + 2.
		wantFirst:  Stats{Containers: 4, FilesRead: 45, DirsListed: 6, HeldFiles: 33},
		wantSecond: Stats{Containers: 4, FilesRead: 33, HeldFiles: 33},
	}, {
		name: "v2 cgroupfs", root: "testdata/v2-cgroupfs", want: v2CgroupfsWant, wantPods: v2CgroupfsPods,
		// 3 × 10 files but one memory.swap.current, 3 cgroup.procs (one empty, not read
		// again on the next pass), 2 net/dev.
		wantFirst:  Stats{Containers: 3, FilesRead: 34, DirsListed: 6, HeldFiles: 24},
		wantSecond: Stats{Containers: 3, FilesRead: 24, HeldFiles: 24},
	}, {
		name: "v1 cgroupfs", root: "testdata/v1-cgroupfs", want: v1Want, wantPods: v1Pods,
		// 3 × (9 files + 4 limits), 3 cgroup.procs, 1 net/dev (the other pids have no /proc).
		wantFirst:  Stats{Containers: 3, FilesRead: 43, DirsListed: 6, HeldFiles: 30},
		wantSecond: Stats{Containers: 3, FilesRead: 30, HeldFiles: 30},
	}, {
		name: "malformed", root: "testdata/malformed", want: malformedWant, wantPods: malformedPods,
		// Parse errors: cpu.stat, memory.stat (empty), memory.events, memory.swap.current,
		// io.stat, pids.current (overflow), cpu.max, cpu.weight (0), net/dev.
		// Files: the good container lacks two; the bad one's cgroup.procs is the pod's.
		wantFirst:  Stats{Containers: 2, ParseErrors: 9, FilesRead: 8 + 10 + 2, DirsListed: 3, HeldFiles: 5 + 7 + 2},
		wantSecond: Stats{Containers: 2, ParseErrors: 7, FilesRead: 5 + 7 + 2, HeldFiles: 14},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds := openFDs()
			c := New(Options{Root: tt.root})
			for pass, wantStats := range []Stats{tt.wantFirst, tt.wantSecond} {
				got, pods, st, err := c.Collect()
				if err != nil {
					t.Fatalf("pass %d: Collect: %v", pass+1, err)
				}
				if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
					t.Errorf("pass %d: containers (-want +got):\n%s", pass+1, diff)
				}
				if diff := cmp.Diff(tt.wantPods, pods, protocmp.Transform()); diff != "" {
					t.Errorf("pass %d: pods (-want +got):\n%s", pass+1, diff)
				}
				if (st.FirstError != nil) != (wantStats.ParseErrors > 0) {
					t.Errorf("pass %d: FirstError = %v with %d parse errors", pass+1, st.FirstError, st.ParseErrors)
				}
				st.FirstError = nil
				if c.w == nil { // no inotify: every pass lists every directory
					wantStats.DirsListed = tt.wantFirst.DirsListed
				}
				if st != wantStats {
					t.Errorf("pass %d: stats = %+v, want %+v", pass+1, st, wantStats)
				}
			}
			checkClosed(t, c, fds)
		})
	}
}

func TestLookupAttachesNames(t *testing.T) {
	metas := map[string]Meta{
		"9c2b7e5d3a1f4e6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e": {Name: "web", PodName: "web-7d9f", Namespace: "shop", Image: "nginx:1.27"},
		"7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b": {Name: "db", PodName: "db-0", Namespace: "data", Image: "postgres:17"},
	}
	c := New(Options{Root: "testdata/v2-systemd", Lookup: func(id string) (Meta, bool) { m, ok := metas[id]; return m, ok }})
	t.Cleanup(func() { _ = c.Close() })
	got, pods, _, err := c.Collect()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][4]string{}
	for _, s := range got {
		names[s.Id] = [4]string{s.Name, s.PodName, s.Namespace, s.Image}
	}
	want := map[string][4]string{
		"5e8d1c4b7a0f3e6d9c2b5a8f1e4d7c0b3a6f9e2d5c8b1a4f7e0d3c6b9a2f5e8d": {},
		"1f0e4d0f6a2c4b8e9d7c5a3b1e0f2d4c6a8b0c2e4f6a8b0d2c4e6f8a0b2c4d6e": {}, // unknown to the runtime: empty, still reported
		"9c2b7e5d3a1f4e6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e": {"web", "web-7d9f", "shop", "nginx:1.27"},
		"7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b": {"db", "db-0", "data", "postgres:17"},
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	podNames := map[string][2]string{}
	for _, p := range pods {
		podNames[p.PodUid] = [2]string{p.PodName, p.Namespace}
	}
	wantPods := map[string][2]string{
		"6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b": {"web-7d9f", "shop"},
		"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f": {"db-0", "data"},
	}
	if diff := cmp.Diff(wantPods, podNames); diff != "" {
		t.Errorf("pod names (-want +got):\n%s", diff)
	}
}

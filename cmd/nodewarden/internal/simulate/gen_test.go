package simulate

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

var (
	hex64   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	podUIDs = regexp.MustCompile(`pod([0-9a-f_]{36})\.slice/cri-containerd-([0-9a-f]{64})\.scope$`)
)

func testNode(t testing.TB, seed int64, containers int, p params) *fakeNode {
	t.Helper()
	p.containers = containers
	if p.interval == 0 {
		p.interval = 10 * time.Second
	}
	n, err := newNode(subject.Space{}, "ip-10-0-0-1.ec2.internal", seed, 0, time.Unix(1_780_000_000, 0), p, newKernelCatalog(seed))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The containers of a node look like kubelet's: exactly M of them, 64-hex ids, v4 pod uids,
// the cgroup path the systemd driver gives them, and a pod network for every pod.
func TestContainersLookReal(t *testing.T) {
	for _, m := range []int{0, 1, 5, 30, 110} {
		n := testNode(t, 11, m, params{})
		cs := n.cs.msg
		if len(cs.Containers) != m {
			t.Fatalf("%d containers, want %d", len(cs.Containers), m)
		}
		pods := map[string]bool{}
		for _, p := range cs.Pods {
			if !uuidRE.MatchString(p.PodUid) || p.PodName == "" || p.Namespace == "" || len(p.Interfaces) != 1 {
				t.Fatalf("pod network %v", p)
			}
			pods[p.PodUid] = true
		}
		ids := map[string]bool{}
		for _, c := range cs.Containers {
			if !hex64.MatchString(c.Id) || ids[c.Id] {
				t.Fatalf("container id %q (dup %v)", c.Id, ids[c.Id])
			}
			ids[c.Id] = true
			if !uuidRE.MatchString(c.PodUid) || c.Name == "" || c.PodName == "" || c.Namespace == "" || c.Image == "" {
				t.Fatalf("container identity %v", c)
			}
			sm := podUIDs.FindStringSubmatch(c.CgroupPath)
			if sm == nil || sm[2] != c.Id || sm[1] != underscored(c.PodUid) || c.CgroupVersion != 2 {
				t.Fatalf("cgroup path %q for pod %s container %s", c.CgroupPath, c.PodUid, c.Id)
			}
			if c.QosClass == nwv1.QOSClass_QOS_CLASS_UNSPECIFIED {
				t.Fatalf("%s has no QoS class", c.Name)
			}
			if !pods[c.PodUid] {
				t.Fatalf("%s/%s has no pod network", c.Namespace, c.PodName)
			}
		}
	}
}

func underscored(uid string) string {
	b := []byte(uid)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// Counters only grow, interval after interval, and the derived values stay consistent: working
// set ≤ usage ≤ limit, throttled ≤ periods, free ≤ size.
func TestCountersGrowAndStayConsistent(t *testing.T) {
	n := testNode(t, 5, 30, params{unhealthyRate: 0.5})
	at := time.Unix(1_780_000_000, 0)
	prevNode := proto.Clone(n.ns).(*nwv1.NodeSample)
	prevCtr := proto.Clone(n.cs.msg).(*nwv1.ContainerSamples)
	for i := 1; i <= 50; i++ {
		at = at.Add(10 * time.Second)
		n.interval(at)
		ns, cs := n.ns, n.cs.msg
		if ns.Seq != uint64(i) || cs.Seq != uint64(i) || n.health[0].msg.Seq != uint64(i) || n.health[1].msg.Seq != uint64(i) {
			t.Fatalf("interval %d: seqs %d %d %d %d", i, ns.Seq, cs.Seq, n.health[0].msg.Seq, n.health[1].msg.Seq)
		}
		if !ns.Time.AsTime().Equal(at) || !cs.Time.AsTime().Equal(at) {
			t.Fatalf("times %v %v, want %v", ns.Time.AsTime(), cs.Time.AsTime(), at)
		}
		pc, c := prevNode.Cpu, ns.Cpu
		for _, d := range []float64{c.UserSeconds - pc.UserSeconds, c.SystemSeconds - pc.SystemSeconds, c.IdleSeconds - pc.IdleSeconds,
			c.IowaitSeconds - pc.IowaitSeconds, ns.UptimeSeconds - prevNode.UptimeSeconds} {
			if d < 0 {
				t.Fatalf("interval %d: a node CPU counter or the uptime went down: %v -> %v", i, pc, c)
			}
		}
		busy := (c.UserSeconds + c.SystemSeconds + c.IdleSeconds + c.IowaitSeconds + c.NiceSeconds + c.IrqSeconds + c.SoftirqSeconds + c.StealSeconds) -
			(pc.UserSeconds + pc.SystemSeconds + pc.IdleSeconds + pc.IowaitSeconds + pc.NiceSeconds + pc.IrqSeconds + pc.SoftirqSeconds + pc.StealSeconds)
		if want := float64(c.Cores) * 10; busy < want*0.99 || busy > want*1.01 {
			t.Fatalf("interval %d: %v CPU seconds over 10s on %d cores", i, busy, c.Cores)
		}
		if m := ns.Memory; m.AvailableBytes > m.TotalBytes || m.FreeBytes > m.AvailableBytes {
			t.Fatalf("memory %v", m)
		}
		for _, f := range ns.Filesystems {
			if f.FreeBytes > f.SizeBytes || f.AvailBytes > f.FreeBytes || f.FilesFree > f.Files {
				t.Fatalf("filesystem %v", f)
			}
		}
		for j, nw := range ns.Networks {
			if nw.RxBytes < prevNode.Networks[j].RxBytes || nw.TxPackets < prevNode.Networks[j].TxPackets {
				t.Fatalf("interface %s counters went down", nw.Interface)
			}
		}
		for j, ct := range cs.Containers {
			p := prevCtr.Containers[j]
			if ct.Cpu.UsageSeconds <= p.Cpu.UsageSeconds || ct.Cpu.Periods < p.Cpu.Periods ||
				ct.Cpu.ThrottledPeriods < p.Cpu.ThrottledPeriods || ct.Blkio.WriteBytes < p.Blkio.WriteBytes ||
				ct.Memory.OomEvents < p.Memory.OomEvents {
				t.Fatalf("interval %d: container %s counters went down: %v -> %v", i, ct.Name, p, ct)
			}
			if ct.Cpu.ThrottledPeriods > ct.Cpu.Periods {
				t.Fatalf("%s: %d of %d periods throttled", ct.Name, ct.Cpu.ThrottledPeriods, ct.Cpu.Periods)
			}
			if (ct.Cpu.QuotaUsec > 0) != (ct.Cpu.Periods > 0) {
				t.Fatalf("%s: quota %d but %d periods", ct.Name, ct.Cpu.QuotaUsec, ct.Cpu.Periods)
			}
			m := ct.Memory
			if m.WorkingSetBytes == 0 || m.WorkingSetBytes > m.UsageBytes || m.LimitBytes > 0 && m.UsageBytes > m.LimitBytes || m.RssBytes > m.WorkingSetBytes {
				t.Fatalf("%s: memory %v", ct.Name, m)
			}
			if ct.Pids == 0 {
				t.Fatalf("%s: no pids", ct.Name)
			}
		}
		prevNode = proto.Clone(ns).(*nwv1.NodeSample)
		prevCtr = proto.Clone(cs).(*nwv1.ContainerSamples)
	}
}

func TestUnhealthyRate(t *testing.T) {
	for _, tt := range []struct {
		rate             float64
		wantMin, wantMax int
	}{{0, 0, 0}, {1, 200, 200}, {0.25, 30, 70}} {
		n := testNode(t, 9, 1, params{unhealthyRate: tt.rate})
		bad := 0
		at := time.Unix(1_780_000_000, 0)
		for range 100 {
			at = at.Add(time.Second)
			n.interval(at)
			for _, h := range n.health {
				if !h.msg.Healthy {
					bad++
					if h.msg.Message == "" {
						t.Fatalf("%s unhealthy without a message", h.msg.Component)
					}
				}
				if h.msg.Latency.AsDuration() <= 0 || h.msg.Check == "" {
					t.Fatalf("report %v", h.msg)
				}
			}
		}
		if bad < tt.wantMin || bad > tt.wantMax {
			t.Errorf("unhealthy rate %v: %d of 200 reports unhealthy", tt.rate, bad)
		}
	}
}

// The same seed builds the same node; another seed another one.
func TestSeedDecidesTheNodes(t *testing.T) {
	a, b, c := testNode(t, 77, 10, params{}), testNode(t, 77, 10, params{}), testNode(t, 78, 10, params{})
	if !proto.Equal(a.cs.msg, b.cs.msg) || !proto.Equal(a.ns, b.ns) {
		t.Fatal("same seed, different nodes")
	}
	if a.cs.msg.Containers[0].Id == c.cs.msg.Containers[0].Id || a.ns.BootId == c.ns.BootId {
		t.Fatal("different seeds, same ids")
	}
}

// Message ids carry the identity the proto comments name, and differ between intervals.
func TestMessageIDs(t *testing.T) {
	n := testNode(t, 1, 2, params{logRate: 1})
	start := strconv.FormatInt(n.start.UnixNano(), 10)
	tests := []struct{ got, want string }{
		{n.nodeSampleID(7), "sample.node:ip-10-0-0-1.ec2.internal:" + start + ":7"},
		{n.containerSamplesID(8), "sample.container:ip-10-0-0-1.ec2.internal:" + start + ":8"},
		{n.healthID("kubelet", 9), "health:ip-10-0-0-1.ec2.internal:kubelet:" + start + ":9"},
		{n.logID(&nwv1.LogBatch{Source: "kernel-monitor", StreamId: "kmsg:b", FirstSeq: 10}), "log:ip-10-0-0-1.ec2.internal:kernel-monitor:kmsg:b:10"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("id %q, want %q", tt.got, tt.want)
		}
	}
	if start != "1780000000000000000" {
		t.Errorf("collector start %q", start)
	}
}

package simulate

import (
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

const gib = 1 << 30

// params are what every node is generated with.
type params struct {
	containers    int
	interval      time.Duration
	logRate       float64
	matchRate     float64
	unhealthyRate float64
}

// fakeNode is one simulated node: its messages, kept and updated in place so an interval
// allocates little, and the random source its goroutine alone uses.
type fakeNode struct {
	name  string
	r     *rand.Rand
	p     params
	start time.Time // collector start, for message ids
	last  time.Time

	subjNode, subjContainers, subjHealth, subjLog string

	ns       *nwv1.NodeSample
	busy     float64 // mean CPU utilisation
	memUsed  float64 // fraction of memory in use
	rxRate   float64 // bytes per second on eth0
	fsGrowth float64 // bytes per second written to the container filesystem
	pressure [5]float64

	cs     *containerSet
	health [2]healthCheck
	logs   *logStream // nil when there are no logs
}

// newNode builds node i (0-based) of a run. Everything about it comes from seed and i, so the
// same seed gives the same nodes, pods and ids.
func newNode(sp subject.Space, name string, seed int64, i int, start time.Time, p params, kern *kernelCatalog) (*fakeNode, error) {
	r := newNodeRand(seed, i)
	n := &fakeNode{name: name, r: r, p: p, start: start}
	var err error
	if n.subjNode, err = sp.NodeSample(name); err != nil {
		return nil, err
	}
	if n.subjContainers, err = sp.ContainerSamples(name); err != nil {
		return nil, err
	}
	if n.subjHealth, err = sp.Health(name); err != nil {
		return nil, err
	}
	if n.subjLog, err = sp.Log(kernelSource, name); err != nil {
		return nil, err
	}
	bootID := uuid(r)
	uptime := 3600 + r.Float64()*r.Float64()*60*86400 // most nodes are days old, some weeks
	n.newNodeSample(bootID, uptime, start)
	n.cs = newContainerSet(r, name, p.containers, uptime, start)
	n.health = newHealthChecks(name, start)
	if p.logRate > 0 {
		n.logs = newLogStream(r, name, bootID, start, p, kern)
	}
	return n, nil
}

// newNodeRand is node i's own random source: nodes draw independently, without locks.
func newNodeRand(seed int64, i int) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), uint64(i))) }

func (n *fakeNode) newNodeSample(bootID string, uptime float64, start time.Time) {
	r := n.r
	cores := []uint32{4, 8, 16, 32}[r.IntN(4)]
	n.busy = 0.1 + 0.6*r.Float64()
	n.memUsed = 0.3 + 0.5*r.Float64()
	n.rxRate = float64(1+r.IntN(50)) * mib
	n.fsGrowth = float64(r.IntN(2 * mib))
	total := float64(cores) * uptime
	busy := total * n.busy
	n.ns = &nwv1.NodeSample{
		Node: n.name, Time: &timestamppb.Timestamp{}, BootId: bootID, UptimeSeconds: uptime,
		CollectorStart: timestamppb.New(start),
		Cpu: &nwv1.CPUStats{Cores: cores, UserSeconds: busy * 0.72, NiceSeconds: busy * 0.02,
			SystemSeconds: busy * 0.2, IrqSeconds: busy * 0.01, SoftirqSeconds: busy * 0.04,
			StealSeconds: busy * 0.01, IowaitSeconds: total * 0.005, IdleSeconds: total - busy - total*0.005},
		Load:   &nwv1.LoadAverage{},
		Memory: &nwv1.MemoryStats{TotalBytes: uint64(cores) * 4 * gib},
		Pressure: &nwv1.PressureStats{CpuSome: &nwv1.PressureLine{}, MemorySome: &nwv1.PressureLine{},
			MemoryFull: &nwv1.PressureLine{}, IoSome: &nwv1.PressureLine{}, IoFull: &nwv1.PressureLine{}},
		Filesystems: []*nwv1.FilesystemStats{
			{Mountpoint: "/", Device: "/dev/nvme0n1p1", Fstype: "ext4", SizeBytes: uint64(50+r.IntN(4)*50) * gib},
			{Mountpoint: "/var/lib/containerd", Device: "/dev/nvme1n1", Fstype: "xfs", SizeBytes: uint64(200+r.IntN(4)*100) * gib},
		},
		Networks: []*nwv1.NetworkStats{{Interface: "eth0"}, {Interface: "cni0"}},
	}
	for _, f := range n.ns.Filesystems {
		f.FreeBytes = uint64(float64(f.SizeBytes) * (0.3 + 0.5*r.Float64()))
		f.Files = f.SizeBytes / 16384
		f.FilesFree = f.Files - (f.SizeBytes-f.FreeBytes)/65536
		f.AvailBytes = availBytes(f)
	}
	netCounters(n.ns.Networks[0], n.rxRate, 0.8, uptime)
	netCounters(n.ns.Networks[1], n.rxRate*0.3, 1, uptime)
	n.setMemory()
	l := float64(cores) * n.busy
	n.ns.Load.Load1, n.ns.Load.Load5, n.ns.Load.Load15 = l, l, l
}

// availBytes is what an unprivileged writer may use: ext4 keeps 5% for root.
func availBytes(f *nwv1.FilesystemStats) uint64 {
	if f.Fstype != "ext4" {
		return f.FreeBytes
	}
	reserved := f.SizeBytes / 20
	if f.FreeBytes < reserved {
		return 0
	}
	return f.FreeBytes - reserved
}

func (n *fakeNode) setMemory() {
	m := n.ns.Memory
	avail := float64(m.TotalBytes) * (1 - n.memUsed)
	m.AvailableBytes = uint64(avail)
	m.FreeBytes = uint64(avail * 0.3)
	m.CachedBytes = uint64(avail * 0.6)
	m.BuffersBytes = m.TotalBytes / 100
}

// interval advances everything sampled every interval to now.
func (n *fakeNode) interval(now time.Time) {
	dt := n.p.interval.Seconds()
	if !n.last.IsZero() {
		dt = now.Sub(n.last).Seconds()
	}
	n.last = now
	n.updateNodeSample(now, dt)
	n.cs.update(n.r, now, dt)
	for i := range n.health {
		n.health[i].update(n.r, now, n.p.unhealthyRate)
	}
}

func (n *fakeNode) updateNodeSample(now time.Time, dt float64) {
	r, s := n.r, n.ns
	s.Seq++
	setTime(s.Time, now)
	s.UptimeSeconds += dt
	c := s.Cpu
	total := float64(c.Cores) * dt
	u := min(max(n.busy+r.NormFloat64()*0.08, 0.02), 0.97)
	busy := total * u
	iowait := total * 0.01 * r.Float64()
	c.UserSeconds += busy * 0.72
	c.NiceSeconds += busy * 0.02
	c.SystemSeconds += busy * 0.2
	c.IrqSeconds += busy * 0.01
	c.SoftirqSeconds += busy * 0.04
	c.StealSeconds += busy * 0.01
	c.IowaitSeconds += iowait
	c.IdleSeconds += max(0, total-busy-iowait)

	// Load averages decay towards the current run queue as the kernel's do (1, 5, 15 minutes).
	runq := float64(c.Cores) * u * (0.8 + 0.4*r.Float64())
	l := s.Load
	l.Load1 = ewma(l.Load1, runq, dt, 60)
	l.Load5 = ewma(l.Load5, runq, dt, 300)
	l.Load15 = ewma(l.Load15, runq, dt, 900)

	n.memUsed = min(max(n.memUsed+r.NormFloat64()*0.01, 0.1), 0.95)
	n.setMemory()

	// Pressure: cpu stalls once the node is busy, memory and io a little.
	stall := [5]float64{max(0, u-0.5) * 60, max(0, n.memUsed-0.8) * 50, max(0, n.memUsed-0.85) * 30,
		r.Float64() * 2, r.Float64() * 0.5}
	lines := [5]*nwv1.PressureLine{s.Pressure.CpuSome, s.Pressure.MemorySome, s.Pressure.MemoryFull,
		s.Pressure.IoSome, s.Pressure.IoFull}
	for i, pl := range lines {
		pl.Avg10 = round2(stall[i])
		pl.Avg60 = round2(ewma(pl.Avg60, stall[i], dt, 60))
		pl.Avg300 = round2(ewma(pl.Avg300, stall[i], dt, 300))
		pl.TotalUsec += uint64(stall[i] / 100 * dt * 1e6)
	}

	for _, f := range s.Filesystems {
		grow := uint64(n.fsGrowth * dt * r.Float64())
		used := f.SizeBytes - f.FreeBytes + grow
		if used > f.SizeBytes/100*85 { // kubelet's image garbage collection frees space
			used = f.SizeBytes / 100 * 60
		}
		f.FreeBytes = f.SizeBytes - used
		f.FilesFree = f.Files - min(f.Files, used/65536)
		f.AvailBytes = availBytes(f)
	}
	netAdvance(r, s.Networks[0], n.rxRate, 0.8, dt)
	netAdvance(r, s.Networks[1], n.rxRate*0.3, 1, dt)
}

func ewma(prev, cur, dt, window float64) float64 {
	a := math.Exp(-dt / window)
	return prev*a + cur*(1-a)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// Message ids come from servicekit/msgid, as the collector's do; the start makes two runs of
// the simulator distinct.

func (n *fakeNode) nodeSampleID(seq uint64) string { return msgid.NodeSample(n.name, n.start, seq) }

func (n *fakeNode) containerSamplesID(seq uint64) string {
	return msgid.ContainerSamples(n.name, n.start, seq)
}

func (n *fakeNode) healthID(component string, seq uint64) string {
	return msgid.Health(n.name, component, n.start, seq)
}

func (n *fakeNode) logID(b *nwv1.LogBatch) string {
	return msgid.LogBatch(n.name, b.Source, b.StreamId, b.FirstSeq)
}

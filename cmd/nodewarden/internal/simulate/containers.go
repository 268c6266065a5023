package simulate

import (
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

const (
	mib       = 1 << 20
	cfsPeriod = 100_000 // µs, the kernel's default CFS period
)

// ctrState is how a container behaves; its counters live in the message itself, which is
// updated in place every interval and marshalled again.
type ctrState struct {
	cores    float64 // mean CPU use
	limit    float64 // CPU limit in cores, 0 = none
	wsTarget float64 // mean working set, bytes
	ioRate   float64 // block I/O bytes per second
	pidsBase float64
	msg      *nwv1.ContainerSample
}

type podState struct {
	rxRate float64 // bytes per second into the pod
	msg    *nwv1.PodNetwork
}

// containerSet is one node's containers and pods.
type containerSet struct {
	msg  *nwv1.ContainerSamples
	ctrs []ctrState
	pods []podState
	seq  uint64
}

func newContainerSet(r *rand.Rand, node string, m int, uptime float64, start time.Time) *containerSet {
	cs := &containerSet{msg: &nwv1.ContainerSamples{Node: node, Time: &timestamppb.Timestamp{},
		CollectorStart: timestamppb.New(start)}}
	for _, pick := range placePods(r, m) {
		app := appAt(pick[0])
		qos := app.qos
		if qos == nwv1.QOSClass_QOS_CLASS_UNSPECIFIED {
			qos = nwv1.QOSClass_QOS_CLASS_BURSTABLE
			if r.Float64() < 0.2 {
				qos = nwv1.QOSClass_QOS_CLASS_GUARANTEED
			}
		}
		pod := &nwv1.PodNetwork{PodUid: uuid(r), PodName: podName(r, app), Namespace: app.namespace,
			Interfaces: []*nwv1.NetworkStats{{Interface: "eth0"}}}
		age := min(uptime, 60+r.Float64()*r.Float64()*30*86400) // seconds since the pod started
		var podCores float64
		for _, spec := range app.containers[:pick[1]] {
			c := newContainer(r, spec, qos, pod.PodUid, age)
			c.msg.PodName, c.msg.Namespace = pod.PodName, pod.Namespace
			podCores += c.cores
			cs.ctrs = append(cs.ctrs, c)
		}
		p := podState{rxRate: podCores * (0.2 + r.Float64()) * 4 * mib, msg: pod}
		netCounters(pod.Interfaces[0], p.rxRate, 0.7, age)
		cs.pods = append(cs.pods, p)
	}
	for i := range cs.ctrs {
		cs.msg.Containers = append(cs.msg.Containers, cs.ctrs[i].msg)
	}
	for i := range cs.pods {
		cs.msg.Pods = append(cs.msg.Pods, cs.pods[i].msg)
	}
	return cs
}

func newContainer(r *rand.Rand, spec ctrSpec, qos nwv1.QOSClass, podUID string, age float64) ctrState {
	c := ctrState{
		cores:    spec.cores * (0.5 + r.Float64()),
		wsTarget: spec.wsMiB * mib * (0.6 + 0.8*r.Float64()),
		pidsBase: 1 + spec.cores*30 + r.Float64()*8,
	}
	c.ioRate = c.cores * 256 * 1024 * r.Float64()
	id := containerID(r)
	cpu := &nwv1.ContainerCPU{QuotaUsec: -1, PeriodUsec: cfsPeriod, Shares: 2}
	mem := &nwv1.ContainerMemory{}
	switch {
	case qos == nwv1.QOSClass_QOS_CLASS_GUARANTEED:
		c.limit = roundUp(c.cores*2, 0.1)
		mem.LimitBytes = uint64(roundUp(c.wsTarget*1.8, 64*mib))
		cpu.Shares = uint64(c.limit * 1024)
	case qos == nwv1.QOSClass_QOS_CLASS_BURSTABLE:
		cpu.Shares = max(2, uint64(c.cores*1.5*1024))
		if r.Float64() < 0.6 {
			c.limit = roundUp(c.cores*3, 0.1)
			mem.LimitBytes = uint64(roundUp(c.wsTarget*2.5, 64*mib))
		}
	}
	if c.limit > 0 {
		cpu.QuotaUsec = int64(c.limit * cfsPeriod)
	}
	// Counters start where a container of this age would have them.
	cpu.UsageSeconds = c.cores * age
	cpu.UserSeconds = cpu.UsageSeconds * 0.8
	cpu.SystemSeconds = cpu.UsageSeconds * 0.2
	if c.limit > 0 {
		cpu.Periods = uint64(age * 10 * min(1, 0.2+c.cores/c.limit))
		cpu.ThrottledPeriods = cpu.Periods / 50
		cpu.ThrottledSeconds = float64(cpu.ThrottledPeriods) * 0.02
	}
	blk := &nwv1.ContainerBlkio{ReadBytes: uint64(c.ioRate * age * 0.3), WriteBytes: uint64(c.ioRate * age)}
	blk.ReadOps, blk.WriteOps = blk.ReadBytes/16384, blk.WriteBytes/8192
	c.msg = &nwv1.ContainerSample{
		Id: id, PodUid: podUID, QosClass: qos, Name: spec.name, Image: spec.image,
		CgroupPath: cgroupPath(qos, podUID, id), CgroupVersion: 2,
		Cpu: cpu, Memory: mem, Blkio: blk, Pids: uint64(c.pidsBase),
	}
	c.setMemory(r, c.wsTarget)
	return c
}

func roundUp(v, step float64) float64 { return math.Ceil(v/step) * step }

// update advances the containers by dt seconds.
func (cs *containerSet) update(r *rand.Rand, now time.Time, dt float64) {
	cs.seq++
	cs.msg.Seq = cs.seq
	setTime(cs.msg.Time, now)
	for i := range cs.ctrs {
		cs.ctrs[i].update(r, dt)
	}
	for i := range cs.pods {
		p := &cs.pods[i]
		netAdvance(r, p.msg.Interfaces[0], p.rxRate, 0.7, dt)
	}
}

func (c *ctrState) update(r *rand.Rand, dt float64) {
	cpu := c.msg.Cpu
	// CPU use is bursty: log-normal around the mean, never above the limit.
	use := c.cores * math.Exp(r.NormFloat64()*0.5-0.125)
	if c.limit > 0 {
		use = min(use, c.limit)
		periods := dt * 1e6 / cfsPeriod * min(1, 0.2+use/c.limit)
		cpu.Periods += uint64(periods)
		// Near the limit, a share of periods is throttled: the CPUThrottlingHigh alert fires
		// for containers that spend a quarter of their periods there.
		if frac := (use/c.limit - 0.6) / 0.4; frac > 0 {
			throttled := uint64(periods * frac * 0.5)
			cpu.ThrottledPeriods += throttled
			cpu.ThrottledSeconds += float64(throttled) * cfsPeriod / 1e6 * 0.3
		}
	}
	cpu.UsageSeconds += use * dt
	cpu.UserSeconds += use * dt * 0.8
	cpu.SystemSeconds += use * dt * 0.2

	ws := float64(c.msg.Memory.WorkingSetBytes) * math.Exp(r.NormFloat64()*0.03)
	ws = min(max(ws, c.wsTarget*0.5), c.wsTarget*1.5)
	c.setMemory(r, ws)
	if c.msg.Memory.LimitBytes > 0 && r.Float64() < 0.0002 {
		c.msg.Memory.OomEvents++
	}

	io := c.ioRate * dt * (0.5 + r.Float64())
	blk := c.msg.Blkio
	blk.WriteBytes += uint64(io)
	blk.ReadBytes += uint64(io * 0.3)
	blk.WriteOps += uint64(io / 8192)
	blk.ReadOps += uint64(io * 0.3 / 16384)

	c.msg.Pids = uint64(max(1, c.pidsBase+float64(r.IntN(5)-2)))
}

// setMemory derives usage, rss and cache from a working set, as cgroup memory.stat relates
// them (working set = usage - inactive_file), keeping usage under the limit.
func (c *ctrState) setMemory(r *rand.Rand, ws float64) {
	m := c.msg.Memory
	if m.LimitBytes > 0 {
		ws = min(ws, float64(m.LimitBytes)*0.9)
	}
	cache := ws*0.15 + c.wsTarget*0.2*r.Float64()
	inactive := cache * 0.6
	usage := ws + inactive
	if m.LimitBytes > 0 {
		usage = min(usage, float64(m.LimitBytes)*0.98)
	}
	m.WorkingSetBytes = uint64(ws)
	m.UsageBytes = uint64(usage)
	m.CacheBytes = uint64(cache)
	m.RssBytes = uint64(ws - cache*0.4)
}

// netCounters starts an interface's counters at what rate bytes/s (rx; tx = rx*txRatio) over
// age seconds gives.
func netCounters(n *nwv1.NetworkStats, rate, txRatio, age float64) {
	n.RxBytes = uint64(rate * age)
	n.TxBytes = uint64(rate * txRatio * age)
	n.RxPackets, n.TxPackets = n.RxBytes/900, n.TxBytes/700
}

func netAdvance(r *rand.Rand, n *nwv1.NetworkStats, rate, txRatio, dt float64) {
	rx := rate * dt * (0.7 + 0.6*r.Float64())
	tx := rx * txRatio * (0.8 + 0.4*r.Float64())
	n.RxBytes += uint64(rx)
	n.TxBytes += uint64(tx)
	n.RxPackets += uint64(rx / 900)
	n.TxPackets += uint64(tx / 700)
	if r.Float64() < 0.01 {
		n.RxDropped++
	}
}

func setTime(ts *timestamppb.Timestamp, t time.Time) {
	ts.Seconds, ts.Nanos = t.Unix(), int32(t.Nanosecond())
}

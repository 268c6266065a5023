package cgroups

import (
	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/collector/internal/bytesparse"
)

// The files of a container cgroup a sample is made of, and how each fills it. Only these are
// read (cAdvisor opens about 29 per container). Counters come from files read on every pass;
// limits (quota, period, shares, memory limit) change only on an in-place resize and come from
// files read when the container is found and then every Options.LimitsEvery passes.

// limits of one container, kept between their re-reads.
type limits struct {
	quota  int64 // µs per period; -1 unlimited
	period uint64
	shares uint64
	memory uint64 // bytes; 0 unlimited
}

// acc is the sample being filled and what its parsers share.
type acc struct {
	cpu          *nwv1.ContainerCPU
	mem          *nwv1.ContainerMemory
	blk          *nwv1.ContainerBlkio
	s            *nwv1.ContainerSample
	lim          *limits
	inactiveFile uint64
	haveInactive bool
	kv           [8]uint64
}

// finish derives what needs more than one file: the working set is usage minus inactive file
// pages, floored at zero, exactly as cAdvisor's setMemoryStats computes it (usage itself when
// memory.stat gave no inactive_file).
func (a *acc) finish() {
	ws := a.mem.UsageBytes
	if a.haveInactive {
		if ws < a.inactiveFile {
			ws = 0
		} else {
			ws -= a.inactiveFile
		}
	}
	a.mem.WorkingSetBytes = ws
	a.cpu.QuotaUsec = a.lim.quota
	a.cpu.PeriodUsec = a.lim.period
	a.cpu.Shares = a.lim.shares
	a.mem.LimitBytes = a.lim.memory
}

const (
	usecs = 1e6
	nsecs = 1e9
	// userHZ is the unit of cpuacct.stat: USER_HZ is 100 on every architecture's user ABI.
	userHZ = 100
)

var v2Files = []fileSpec{
	{0, "cpu.stat", v2CPUStat},
	{0, "memory.current", func(a *acc, b []byte) (err error) { a.mem.UsageBytes, err = parseUint(b); return }},
	{0, "memory.stat", v2MemoryStat},
	{0, "memory.events", oomKill},
	// cAdvisor's swap on v2 is libcontainer's swap usage (swap.current + current) minus current.
	{0, "memory.swap.current", func(a *acc, b []byte) (err error) { a.mem.SwapBytes, err = parseUint(b); return }},
	{0, "io.stat", v2IOStat},
	{0, "pids.current", func(a *acc, b []byte) (err error) { a.s.Pids, err = parseUint(b); return }},
}

var v2Limits = []fileSpec{
	{0, "cpu.max", func(a *acc, b []byte) (err error) { a.lim.quota, a.lim.period, err = parseCPUMax(b); return }},
	{0, "cpu.weight", func(a *acc, b []byte) error {
		w, err := parseUint(b)
		if err != nil {
			return err
		}
		a.lim.shares, err = weightToShares(w)
		return err
	}},
	{0, "memory.max", func(a *acc, b []byte) (err error) { a.lim.memory, _, err = parseMax(b); return }},
}

var v2CPUKeys = []string{"usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec"}

func v2CPUStat(a *acc, b []byte) error {
	v := a.kv[:len(v2CPUKeys)]
	_, err := parseKV(b, v2CPUKeys, v)
	a.cpu.UsageSeconds = float64(v[0]) / usecs
	a.cpu.UserSeconds = float64(v[1]) / usecs
	a.cpu.SystemSeconds = float64(v[2]) / usecs
	a.cpu.Periods = v[3]
	a.cpu.ThrottledPeriods = v[4]
	a.cpu.ThrottledSeconds = float64(v[5]) / usecs
	return err
}

var v2MemoryKeys = []string{"anon", "file", "inactive_file"}

func v2MemoryStat(a *acc, b []byte) error {
	v := a.kv[:len(v2MemoryKeys)]
	found, err := parseKV(b, v2MemoryKeys, v)
	a.mem.RssBytes, a.mem.CacheBytes = v[0], v[1]
	a.inactiveFile, a.haveInactive = v[2], found&(1<<2) != 0
	return err
}

var oomKeys = []string{"oom_kill"}

// oomKill reads the oom_kill count of v2 memory.events or v1 memory.oom_control (Linux 4.13+).
func oomKill(a *acc, b []byte) error {
	v := a.kv[:1]
	_, err := parseKV(b, oomKeys, v)
	a.mem.OomEvents = v[0]
	return err
}

func v2IOStat(a *acc, b []byte) error {
	var t ioTotals
	err := parseIOStat(b, &t)
	a.blk.ReadBytes, a.blk.WriteBytes, a.blk.ReadOps, a.blk.WriteOps = t.rbytes, t.wbytes, t.rios, t.wios
	return err
}

// v1Files name the blkio files "blkio.bytes" and "blkio.ops"; detectV1 picks the real names.
var v1Files = []fileSpec{
	{hCPUAcct, "cpuacct.usage", func(a *acc, b []byte) error {
		ns, err := parseUint(b)
		a.cpu.UsageSeconds = float64(ns) / nsecs
		return err
	}},
	{hCPUAcct, "cpuacct.stat", v1CPUAcctStat},
	{hCPU, "cpu.stat", v1CPUStat},
	{hMemory, "memory.usage_in_bytes", func(a *acc, b []byte) (err error) { a.mem.UsageBytes, err = parseUint(b); return }},
	{hMemory, "memory.stat", v1MemoryStat},
	{hMemory, "memory.oom_control", oomKill},
	{hBlkio, "blkio.bytes", func(a *acc, b []byte) (err error) { a.blk.ReadBytes, a.blk.WriteBytes, err = parseBlkio(b); return }},
	{hBlkio, "blkio.ops", func(a *acc, b []byte) (err error) { a.blk.ReadOps, a.blk.WriteOps, err = parseBlkio(b); return }},
	{hPids, "pids.current", func(a *acc, b []byte) (err error) { a.s.Pids, err = parseUint(b); return }},
}

var v1Limits = []fileSpec{
	{hCPU, "cpu.cfs_quota_us", func(a *acc, b []byte) (err error) { a.lim.quota, err = bytesparse.Int(bytesparse.TrimSpace(b)); return }},
	{hCPU, "cpu.cfs_period_us", func(a *acc, b []byte) (err error) { a.lim.period, err = parseUint(b); return }},
	{hCPU, "cpu.shares", func(a *acc, b []byte) (err error) { a.lim.shares, err = parseUint(b); return }},
	{hMemory, "memory.limit_in_bytes", func(a *acc, b []byte) error {
		v, err := parseUint(b)
		if v >= unlimitedV1 {
			v = 0
		}
		a.lim.memory = v
		return err
	}},
}

var cpuacctKeys = []string{"user", "system"}

func v1CPUAcctStat(a *acc, b []byte) error {
	v := a.kv[:2]
	_, err := parseKV(b, cpuacctKeys, v)
	a.cpu.UserSeconds = float64(v[0]) / userHZ
	a.cpu.SystemSeconds = float64(v[1]) / userHZ
	return err
}

var v1CPUKeys = []string{"nr_periods", "nr_throttled", "throttled_time"}

func v1CPUStat(a *acc, b []byte) error {
	v := a.kv[:3]
	_, err := parseKV(b, v1CPUKeys, v)
	a.cpu.Periods, a.cpu.ThrottledPeriods = v[0], v[1]
	a.cpu.ThrottledSeconds = float64(v[2]) / nsecs
	return err
}

// v1 memory.stat: the total_ values cover the cgroup and its children, which cAdvisor uses when
// memory.use_hierarchy is on (always, for kubelet's cgroups); the plain ones are the fallback.
var v1MemoryKeys = []string{"total_rss", "total_cache", "total_inactive_file", "total_swap", "rss", "cache", "inactive_file", "swap"}

func v1MemoryStat(a *acc, b []byte) error {
	v := a.kv[:len(v1MemoryKeys)]
	found, err := parseKV(b, v1MemoryKeys, v)
	pick := func(total, plain int) (uint64, bool) {
		switch {
		case found&(1<<total) != 0:
			return v[total], true
		case found&(1<<plain) != 0:
			return v[plain], true
		}
		return 0, false
	}
	a.mem.RssBytes, _ = pick(0, 4)
	a.mem.CacheBytes, _ = pick(1, 5)
	a.inactiveFile, a.haveInactive = pick(2, 6)
	a.mem.SwapBytes, _ = pick(3, 7)
	return err
}

package promexp

import (
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// containerLabels are the labels of every container series: cAdvisor's id, name and image, the
// kubelet's namespace, pod and container, and node as Prometheus' kubelet job adds it.
var containerLabels = []string{"node", "namespace", "pod", "container", "image", "id", "name"}

// extra is the label a container metric adds to containerLabels.
type extra int

const (
	extraNone   extra = iota
	extraCPU          // cpu="total": the kubelet's cAdvisor runs without per-CPU usage
	extraDevice       // device="": the collector reads blkio totals, not per device
	nExtras
)

var extraNames = [nExtras]string{extraCPU: "cpu", extraDevice: "device"}
var extraValues = [nExtras]string{extraCPU: "total", extraDevice: ""}

// networkLabels are containerLabels plus the interface.
var networkLabels = append(append([]string(nil), containerLabels...), "interface")

type containerMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	extra extra
}

func cmetric(name, help string, typ prometheus.ValueType, x extra) containerMetric {
	labels := containerLabels
	if x != extraNone {
		labels = append(append([]string(nil), containerLabels...), extraNames[x])
	}
	return containerMetric{prometheus.NewDesc(name, help, labels, nil), typ, x}
}

// Indexes into containerMetrics and containerSeries.vals.
const (
	cCPUUsage = iota
	cCPUUser
	cCPUSystem
	cCFSPeriods
	cCFSThrottledPeriods
	cCFSThrottledSeconds
	cSpecCPUPeriod
	cSpecCPUQuota
	cSpecCPUShares
	cSpecMemoryLimit
	cMemoryUsage
	cMemoryWorkingSet
	cMemoryRSS
	cMemoryCache
	cMemorySwap
	cOOMEvents
	cFsReadsBytes
	cFsWritesBytes
	cFsReads
	cFsWrites
	cProcesses
	cLastSeen
	nContainerMetrics
)

// Names, types and help texts are cAdvisor's (metrics/prometheus.go), so dashboards and the
// kubernetes-mixin rules (CPUThrottlingHigh, ...) work unchanged.
var containerMetrics = [nContainerMetrics]containerMetric{
	cCPUUsage:            cmetric("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", prometheus.CounterValue, extraCPU),
	cCPUUser:             cmetric("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", prometheus.CounterValue, extraNone),
	cCPUSystem:           cmetric("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", prometheus.CounterValue, extraNone),
	cCFSPeriods:          cmetric("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", prometheus.CounterValue, extraNone),
	cCFSThrottledPeriods: cmetric("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", prometheus.CounterValue, extraNone),
	cCFSThrottledSeconds: cmetric("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", prometheus.CounterValue, extraNone),
	cSpecCPUPeriod:       cmetric("container_spec_cpu_period", "CPU period of the container.", prometheus.GaugeValue, extraNone),
	cSpecCPUQuota:        cmetric("container_spec_cpu_quota", "CPU quota of the container.", prometheus.GaugeValue, extraNone),
	cSpecCPUShares:       cmetric("container_spec_cpu_shares", "CPU share of the container.", prometheus.GaugeValue, extraNone),
	cSpecMemoryLimit:     cmetric("container_spec_memory_limit_bytes", "Memory limit for the container.", prometheus.GaugeValue, extraNone),
	cMemoryUsage:         cmetric("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", prometheus.GaugeValue, extraNone),
	cMemoryWorkingSet:    cmetric("container_memory_working_set_bytes", "Current working set in bytes.", prometheus.GaugeValue, extraNone),
	cMemoryRSS:           cmetric("container_memory_rss", "Size of RSS in bytes.", prometheus.GaugeValue, extraNone),
	cMemoryCache:         cmetric("container_memory_cache", "Number of bytes of page cache memory.", prometheus.GaugeValue, extraNone),
	cMemorySwap:          cmetric("container_memory_swap", "Container swap usage in bytes.", prometheus.GaugeValue, extraNone),
	cOOMEvents:           cmetric("container_oom_events_total", "Count of out of memory events observed for the container", prometheus.CounterValue, extraNone),
	cFsReadsBytes:        cmetric("container_fs_reads_bytes_total", "Cumulative count of bytes read", prometheus.CounterValue, extraDevice),
	cFsWritesBytes:       cmetric("container_fs_writes_bytes_total", "Cumulative count of bytes written", prometheus.CounterValue, extraDevice),
	cFsReads:             cmetric("container_fs_reads_total", "Cumulative count of reads completed", prometheus.CounterValue, extraDevice),
	cFsWrites:            cmetric("container_fs_writes_total", "Cumulative count of writes completed", prometheus.CounterValue, extraDevice),
	cProcesses:           cmetric("container_processes", "Number of processes running inside the container.", prometheus.GaugeValue, extraNone),
	cLastSeen:            cmetric("container_last_seen", "Last time a container was seen by the exporter", prometheus.GaugeValue, extraNone),
}

// Indexes into networkMetrics and iface.vals, in NetworkStats' order.
const (
	nRxBytes = iota
	nRxPackets
	nRxErrors
	nRxDropped
	nTxBytes
	nTxPackets
	nTxErrors
	nTxDropped
	nNetworkMetrics
)

func netDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, networkLabels, nil)
}

// networkMetrics are cAdvisor's, exposed like the kubelet does on the pod's cgroup: pod and
// namespace set, container, image and name empty, so sum by (pod) counts each pod once.
var networkMetrics = [nNetworkMetrics]*prometheus.Desc{
	nRxBytes:   netDesc("container_network_receive_bytes_total", "Cumulative count of bytes received"),
	nRxPackets: netDesc("container_network_receive_packets_total", "Cumulative count of packets received"),
	nRxErrors:  netDesc("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving"),
	nRxDropped: netDesc("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving"),
	nTxBytes:   netDesc("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted"),
	nTxPackets: netDesc("container_network_transmit_packets_total", "Cumulative count of packets transmitted"),
	nTxErrors:  netDesc("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting"),
	nTxDropped: netDesc("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting"),
}

// containerSeries is one container's latest values, immutable once built.
type containerSeries struct {
	id     string
	ident  containerIdent // the raw values its labels were built from
	key    string         // label values in label-name order: the order Gather sorts series into
	seen   time.Time
	labels [nExtras][]*dto.LabelPair // without and with each extra label
	vals   [nContainerMetrics]float64
	has    uint32 // bit i: vals[i] is exposed
	n      int    // number of set bits in has
}

// podSeries is one pod's network, immutable once built.
type podSeries struct {
	uid    string
	seen   time.Time
	ifaces []iface
}

type iface struct {
	ident  ifaceIdent
	key    string
	labels []*dto.LabelPair // networkLabels
	vals   [nNetworkMetrics]float64
}

// containerSnap is the containers and pods of one node, immutable once built.
type containerSnap struct {
	msgTime    time.Time
	containers []*containerSeries
	pods       []*podSeries
}

// clean makes a label value valid UTF-8, which client_golang requires of every label value.
func clean(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// containerIdent is what a container's labels are made of, besides the node.
type containerIdent struct{ namespace, pod, name, image, cgroup, id string }

// ifaceIdent is what a pod interface's labels are made of, besides the node.
type ifaceIdent struct{ namespace, pod, cgroup, iface string }

// newContainerSeries converts one container's sample. Its labels are taken from prev, the
// same container in the node's previous snapshot, when they would come out the same: building
// and sorting the label pairs of every container of every sample was most of the sink's
// Prometheus cost (and garbage) at 10,000 nodes.
func newContainerSeries(node string, c *nwv1.ContainerSample, msgTime, seen time.Time, prev *containerSeries) *containerSeries {
	cs := &containerSeries{id: c.GetId(), seen: seen, ident: containerIdent{c.GetNamespace(), c.GetPodName(),
		c.GetName(), c.GetImage(), c.GetCgroupPath(), c.GetId()}}
	if prev != nil && prev.ident == cs.ident {
		cs.labels, cs.key = prev.labels, prev.key
	} else {
		id := cs.ident
		base := []string{node, clean(id.namespace), clean(id.pod), clean(id.name), clean(id.image), clean(id.cgroup), clean(id.id)}
		cs.labels[extraNone] = pairs(containerLabels, base)
		cs.key = sortKey(cs.labels[extraNone])
		for x := extraCPU; x < nExtras; x++ {
			cs.labels[x] = withPair(cs.labels[extraNone], &dto.LabelPair{Name: &extraNames[x], Value: &extraValues[x]})
		}
	}
	set := func(i int, v float64) {
		cs.vals[i] = v
		cs.has |= 1 << i
		cs.n++
	}
	if cpu := c.GetCpu(); cpu != nil {
		set(cCPUUsage, cpu.GetUsageSeconds())
		set(cCPUUser, cpu.GetUserSeconds())
		set(cCPUSystem, cpu.GetSystemSeconds())
		// cAdvisor exposes CFS statistics and the quota only for a container with a quota.
		if cpu.GetQuotaUsec() > 0 {
			set(cCFSPeriods, float64(cpu.GetPeriods()))
			set(cCFSThrottledPeriods, float64(cpu.GetThrottledPeriods()))
			set(cCFSThrottledSeconds, cpu.GetThrottledSeconds())
			set(cSpecCPUQuota, float64(cpu.GetQuotaUsec()))
		}
		if cpu.GetPeriodUsec() > 0 {
			set(cSpecCPUPeriod, float64(cpu.GetPeriodUsec()))
		}
		set(cSpecCPUShares, float64(cpu.GetShares()))
	}
	if mem := c.GetMemory(); mem != nil {
		set(cSpecMemoryLimit, float64(mem.GetLimitBytes())) // 0 = unlimited, as cAdvisor
		set(cMemoryUsage, float64(mem.GetUsageBytes()))
		set(cMemoryWorkingSet, float64(mem.GetWorkingSetBytes()))
		set(cMemoryRSS, float64(mem.GetRssBytes()))
		set(cMemoryCache, float64(mem.GetCacheBytes()))
		set(cMemorySwap, float64(mem.GetSwapBytes()))
		set(cOOMEvents, float64(mem.GetOomEvents()))
	}
	if blk := c.GetBlkio(); blk != nil {
		set(cFsReadsBytes, float64(blk.GetReadBytes()))
		set(cFsWritesBytes, float64(blk.GetWriteBytes()))
		set(cFsReads, float64(blk.GetReadOps()))
		set(cFsWrites, float64(blk.GetWriteOps()))
	}
	set(cProcesses, float64(c.GetPids()))
	// The time the collector sampled it: unlike cAdvisor's scrape time, it stops advancing when
	// the container stops reporting.
	set(cLastSeen, float64(msgTime.Unix()))
	return cs
}

// podCgroup is the pod's cgroup, the kubelet's `id` of pod-level series: the parent of any of
// its containers' cgroups.
func podCgroup(containers []*nwv1.ContainerSample, uid string) string {
	for _, c := range containers {
		if c.GetPodUid() == uid && c.GetCgroupPath() != "" {
			return clean(path.Dir(c.GetCgroupPath()))
		}
	}
	return ""
}

// newPodSeries converts one pod's network; like newContainerSeries it takes the labels of an
// interface from prev, the pod in the previous snapshot, when they would come out the same.
func newPodSeries(node string, p *nwv1.PodNetwork, containers []*nwv1.ContainerSample, seen time.Time, prev *podSeries) *podSeries {
	ps := &podSeries{uid: p.GetPodUid(), seen: seen}
	id := podCgroup(containers, p.GetPodUid())
	for i, n := range p.GetInterfaces() {
		ident := ifaceIdent{p.GetNamespace(), p.GetPodName(), id, n.GetInterface()}
		var labels []*dto.LabelPair
		var key string
		if old := prev.iface(i, ident); old != nil {
			labels, key = old.labels, old.key
		} else {
			labels = pairs(networkLabels, []string{node, clean(ident.namespace), clean(ident.pod), "", "", id, "", clean(ident.iface)})
			key = sortKey(labels)
		}
		ps.ifaces = append(ps.ifaces, iface{
			ident:  ident,
			key:    key,
			labels: labels,
			vals: [nNetworkMetrics]float64{
				float64(n.GetRxBytes()), float64(n.GetRxPackets()), float64(n.GetRxErrors()), float64(n.GetRxDropped()),
				float64(n.GetTxBytes()), float64(n.GetTxPackets()), float64(n.GetTxErrors()), float64(n.GetTxDropped()),
			},
		})
	}
	return ps
}

// buildContainers converts a ContainerSamples message, reusing the labels of prev (the node's
// snapshot held, or nil). It runs outside the store's lock: prev is immutable.
func buildContainers(node string, m *nwv1.ContainerSamples, seen time.Time, prev *containerSnap) *containerSnap {
	t := m.GetTime().AsTime()
	snap := &containerSnap{msgTime: t, containers: make([]*containerSeries, 0, len(m.GetContainers()))}
	for i, c := range m.GetContainers() {
		snap.containers = append(snap.containers, newContainerSeries(node, c, t, seen, prev.container(i, c.GetId())))
	}
	for i, p := range m.GetPods() {
		snap.pods = append(snap.pods, newPodSeries(node, p, m.GetContainers(), seen, prev.pod(i, p.GetPodUid())))
	}
	return snap
}

// container is the series of container id in s, looked for first at index i, where it is
// when the collector lists the node's containers in the same order as last time.
func (s *containerSnap) container(i int, id string) *containerSeries {
	if s == nil {
		return nil
	}
	if i < len(s.containers) && s.containers[i].id == id {
		return s.containers[i]
	}
	for _, c := range s.containers {
		if c.id == id {
			return c
		}
	}
	return nil
}

// pod is the series of pod uid in s, looked for first at index i.
func (s *containerSnap) pod(i int, uid string) *podSeries {
	if s == nil {
		return nil
	}
	if i < len(s.pods) && s.pods[i].uid == uid {
		return s.pods[i]
	}
	for _, p := range s.pods {
		if p.uid == uid {
			return p
		}
	}
	return nil
}

// iface is the interface of p with ident, looked for first at index i.
func (p *podSeries) iface(i int, ident ifaceIdent) *iface {
	if p == nil {
		return nil
	}
	if i < len(p.ifaces) && p.ifaces[i].ident == ident {
		return &p.ifaces[i]
	}
	for j := range p.ifaces {
		if p.ifaces[j].ident == ident {
			return &p.ifaces[j]
		}
	}
	return nil
}

// mergeContainers carries over from prev the containers and pods missing from next that are
// still fresh, so a container skipped by one sample (it vanished mid-read, the collector
// restarted) does not flap; they leave once stale.
func mergeContainers(prev, next *containerSnap, cutoff time.Time) {
	if prev == nil {
		return
	}
	ids := make(map[string]struct{}, len(next.containers))
	for _, c := range next.containers {
		ids[c.id] = struct{}{}
	}
	for _, c := range prev.containers {
		if _, ok := ids[c.id]; !ok && c.seen.After(cutoff) {
			next.containers = append(next.containers, c)
		}
	}
	uids := make(map[string]struct{}, len(next.pods))
	for _, p := range next.pods {
		uids[p.uid] = struct{}{}
	}
	for _, p := range prev.pods {
		if _, ok := uids[p.uid]; !ok && p.seen.After(cutoff) {
			next.pods = append(next.pods, p)
		}
	}
}

// fresh appends the container series and pod interfaces seen after cutoff.
func (s *containerSnap) fresh(cs []*containerSeries, is []*iface, cutoff time.Time) ([]*containerSeries, []*iface) {
	for _, c := range s.containers {
		if c.seen.After(cutoff) {
			cs = append(cs, c)
		}
	}
	for _, p := range s.pods {
		if p.seen.After(cutoff) {
			for i := range p.ifaces {
				is = append(is, &p.ifaces[i])
			}
		}
	}
	return cs, is
}

// collectContainers emits the series of cs and is in the order the registry sorts them into:
// its sort then finds them sorted instead of doing n log n label comparisons per family.
func collectContainers(ch chan<- prometheus.Metric, cs []*containerSeries, is []*iface) {
	slices.SortFunc(cs, func(a, b *containerSeries) int { return strings.Compare(a.key, b.key) })
	slices.SortFunc(is, func(a, b *iface) int { return strings.Compare(a.key, b.key) })
	for i, c := range cs {
		// Equal labels would fail the whole scrape (a duplicate series); keep one.
		if i > 0 && c.key == cs[i-1].key {
			continue
		}
		out := make([]sample, 0, c.n) // one allocation for the container's series
		for i := range containerMetrics {
			if c.has&(1<<i) == 0 {
				continue
			}
			m := &containerMetrics[i]
			out = append(out, sample{desc: m.desc, labels: c.labels[m.extra], val: c.vals[i], typ: m.typ})
			ch <- &out[len(out)-1]
		}
	}
	for j, n := range is {
		if j > 0 && n.key == is[j-1].key { // e.g. a pod re-created under the same name
			continue
		}
		out := make([]sample, nNetworkMetrics)
		for i, d := range networkMetrics {
			out[i] = sample{desc: d, labels: n.labels, val: n.vals[i], typ: prometheus.CounterValue}
			ch <- &out[i]
		}
	}
}

// sortKey joins label values (sorted by name) so that comparing keys compares them value by
// value, as the registry's sort does: NUL sorts before any other byte.
func sortKey(ps []*dto.LabelPair) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

func (s *containerSnap) series(cutoff time.Time) int {
	n := 0
	for _, c := range s.containers {
		if c.seen.After(cutoff) {
			n += c.n
		}
	}
	for _, p := range s.pods {
		if p.seen.After(cutoff) {
			n += len(p.ifaces) * nNetworkMetrics
		}
	}
	return n
}

// emit sends one constant metric. Label values are cleaned when stored and descriptors are
// static, so NewConstMetric cannot fail here; if it ever did, the series is skipped rather
// than failing the scrape.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}

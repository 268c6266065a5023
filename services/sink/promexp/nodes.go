package promexp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Node metrics carry node_exporter's names and help texts, plus a node label: one sink exposes
// many nodes, where node_exporter tells them apart by its scrape target.
func ndesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append([]string{"node"}, labels...), nil)
}

var (
	// The collector reads /proc/stat's aggregate "cpu" line, so there is no per-CPU cpu label;
	// machine_cpu_cores gives the count that count(node_cpu_seconds_total{mode="idle"}) would.
	nodeCPUSeconds = ndesc("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", "mode")
	machineCores   = ndesc("machine_cpu_cores", "Number of logical CPU cores.")
	nodeLoad1      = ndesc("node_load1", "1m load average.")
	nodeLoad5      = ndesc("node_load5", "5m load average.")
	nodeLoad15     = ndesc("node_load15", "15m load average.")
	nodeBootTime   = ndesc("node_boot_time_seconds", "Node boot time, in unixtime.")
	nodeMem        = [...]*prometheus.Desc{
		ndesc("node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes."),
		ndesc("node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes."),
		ndesc("node_memory_MemFree_bytes", "Memory information field MemFree_bytes."),
		ndesc("node_memory_Cached_bytes", "Memory information field Cached_bytes."),
		ndesc("node_memory_Buffers_bytes", "Memory information field Buffers_bytes."),
		ndesc("node_memory_SwapTotal_bytes", "Memory information field SwapTotal_bytes."),
		ndesc("node_memory_SwapFree_bytes", "Memory information field SwapFree_bytes."),
	}
	fsLabels = []string{"device", "fstype", "mountpoint"}
	nodeFS   = [...]*prometheus.Desc{
		ndesc("node_filesystem_size_bytes", "Filesystem size in bytes.", fsLabels...),
		ndesc("node_filesystem_free_bytes", "Filesystem free space in bytes.", fsLabels...),
		ndesc("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.", fsLabels...),
		ndesc("node_filesystem_files", "Filesystem total file nodes.", fsLabels...),
		ndesc("node_filesystem_files_free", "Filesystem total free file nodes.", fsLabels...),
	}
	nodeNet = [nNetworkMetrics]*prometheus.Desc{
		nRxBytes:   ndesc("node_network_receive_bytes_total", "Network device statistic receive_bytes.", "device"),
		nRxPackets: ndesc("node_network_receive_packets_total", "Network device statistic receive_packets.", "device"),
		nRxErrors:  ndesc("node_network_receive_errs_total", "Network device statistic receive_errs.", "device"),
		nRxDropped: ndesc("node_network_receive_drop_total", "Network device statistic receive_drop.", "device"),
		nTxBytes:   ndesc("node_network_transmit_bytes_total", "Network device statistic transmit_bytes.", "device"),
		nTxPackets: ndesc("node_network_transmit_packets_total", "Network device statistic transmit_packets.", "device"),
		nTxErrors:  ndesc("node_network_transmit_errs_total", "Network device statistic transmit_errs.", "device"),
		nTxDropped: ndesc("node_network_transmit_drop_total", "Network device statistic transmit_drop.", "device"),
	}
	nodePressureCPUWaiting = ndesc("node_pressure_cpu_waiting_seconds_total", "Total time in seconds that processes have waited for CPU time")
	nodePressureMemWaiting = ndesc("node_pressure_memory_waiting_seconds_total", "Total time in seconds that processes have waited for memory")
	nodePressureMemStalled = ndesc("node_pressure_memory_stalled_seconds_total", "Total time in seconds no process could make progress due to memory congestion")
	nodePressureIOWaiting  = ndesc("node_pressure_io_waiting_seconds_total", "Total time in seconds that processes have waited due to IO congestion")
	nodePressureIOStalled  = ndesc("node_pressure_io_stalled_seconds_total", "Total time in seconds no process could make progress due to IO congestion")

	healthUp      = ndesc("nodewarden_component_healthy", "Whether the node component passed its last health check (1) or not (0).", "component")
	healthLatency = ndesc("nodewarden_component_check_latency_seconds", "Duration of the node component's last health check.", "component")
	healthRestart = ndesc("nodewarden_component_restarts", "Restart count of the node component as its last health check saw it.", "component")
)

var nodeDescs = func() []*prometheus.Desc {
	d := []*prometheus.Desc{nodeCPUSeconds, machineCores, nodeLoad1, nodeLoad5, nodeLoad15, nodeBootTime,
		nodePressureCPUWaiting, nodePressureMemWaiting, nodePressureMemStalled, nodePressureIOWaiting, nodePressureIOStalled,
		healthUp, healthLatency, healthRestart}
	d = append(d, nodeMem[:]...)
	d = append(d, nodeFS[:]...)
	return append(d, nodeNet[:]...)
}()

// nodeSnap is a node's latest sample. The message is kept as received: Observe's callers hand
// over decoded messages they do not touch again.
type nodeSnap struct {
	seen time.Time
	msg  *nwv1.NodeSample
}

// collect emits the node's series and returns how many; ch nil only counts.
func (s *nodeSnap) collect(ch chan<- prometheus.Metric, node string) int {
	m, n := s.msg, 0
	out := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		n++
		if ch != nil {
			emit(ch, d, t, v, append([]string{node}, labels...))
		}
	}
	if c := m.GetCpu(); c != nil {
		for _, mv := range [...]struct {
			mode string
			v    float64
		}{{"user", c.GetUserSeconds()}, {"nice", c.GetNiceSeconds()}, {"system", c.GetSystemSeconds()},
			{"idle", c.GetIdleSeconds()}, {"iowait", c.GetIowaitSeconds()}, {"irq", c.GetIrqSeconds()},
			{"softirq", c.GetSoftirqSeconds()}, {"steal", c.GetStealSeconds()}} {
			out(nodeCPUSeconds, prometheus.CounterValue, mv.v, mv.mode)
		}
		if c.GetCores() > 0 {
			out(machineCores, prometheus.GaugeValue, float64(c.GetCores()))
		}
	}
	if l := m.GetLoad(); l != nil {
		out(nodeLoad1, prometheus.GaugeValue, l.GetLoad1())
		out(nodeLoad5, prometheus.GaugeValue, l.GetLoad5())
		out(nodeLoad15, prometheus.GaugeValue, l.GetLoad15())
	}
	if mem := m.GetMemory(); mem != nil {
		for i, v := range [...]uint64{mem.GetTotalBytes(), mem.GetAvailableBytes(), mem.GetFreeBytes(),
			mem.GetCachedBytes(), mem.GetBuffersBytes(), mem.GetSwapTotalBytes(), mem.GetSwapFreeBytes()} {
			out(nodeMem[i], prometheus.GaugeValue, float64(v))
		}
	}
	if m.GetUptimeSeconds() > 0 && m.GetTime() != nil {
		boot := float64(m.GetTime().AsTime().UnixNano())/1e9 - m.GetUptimeSeconds()
		out(nodeBootTime, prometheus.GaugeValue, float64(int64(boot+0.5))) // /proc/stat btime is whole seconds
	}
	if p := m.GetPressure(); p != nil {
		for _, pv := range [...]struct {
			d *prometheus.Desc
			l *nwv1.PressureLine
		}{{nodePressureCPUWaiting, p.GetCpuSome()}, {nodePressureMemWaiting, p.GetMemorySome()},
			{nodePressureMemStalled, p.GetMemoryFull()}, {nodePressureIOWaiting, p.GetIoSome()}, {nodePressureIOStalled, p.GetIoFull()}} {
			if pv.l != nil {
				out(pv.d, prometheus.CounterValue, float64(pv.l.GetTotalUsec())/1e6)
			}
		}
	}
	for _, f := range m.GetFilesystems() {
		l := []string{clean(f.GetDevice()), clean(f.GetFstype()), clean(f.GetMountpoint())}
		for i, v := range [...]uint64{f.GetSizeBytes(), f.GetFreeBytes(), f.GetAvailBytes(), f.GetFiles(), f.GetFilesFree()} {
			out(nodeFS[i], prometheus.GaugeValue, float64(v), l...)
		}
	}
	for _, ni := range m.GetNetworks() {
		dev := clean(ni.GetInterface())
		for i, v := range [...]uint64{ni.GetRxBytes(), ni.GetRxPackets(), ni.GetRxErrors(), ni.GetRxDropped(),
			ni.GetTxBytes(), ni.GetTxPackets(), ni.GetTxErrors(), ni.GetTxDropped()} {
			out(nodeNet[i], prometheus.CounterValue, float64(v), dev)
		}
	}
	return n
}

// healthSnap is one component's last health report.
type healthSnap struct {
	seen      time.Time
	msgTime   time.Time
	component string
	healthy   bool
	latency   float64
	restarts  uint32
}

func (h *healthSnap) collect(ch chan<- prometheus.Metric, node string) int {
	if ch != nil {
		up := 0.0
		if h.healthy {
			up = 1
		}
		l := []string{node, h.component}
		emit(ch, healthUp, prometheus.GaugeValue, up, l)
		emit(ch, healthLatency, prometheus.GaugeValue, h.latency, l)
		emit(ch, healthRestart, prometheus.GaugeValue, float64(h.restarts), l)
	}
	return 3
}

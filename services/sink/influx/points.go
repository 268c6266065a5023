package influx

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Measurements written; SCHEMA.md lists their tags and fields.
const (
	MeasurementNode         = "node"
	MeasurementFilesystem   = "node_filesystem"
	MeasurementNetwork      = "node_network"
	MeasurementContainer    = "container"
	MeasurementPodNetwork   = "pod_network"
	MeasurementHealth       = "health"
	MeasurementProblem      = "problem"
	MeasurementRebootStatus = "reboot_status"
)

// ErrNoTime is returned for a message without a time: its points would have no identity, so a
// redelivery would write them again instead of overwriting them.
var ErrNoTime = errors.New("message has no time")

// Points converts one message into its points. Their time is the message's own, so writing
// them again overwrites them. Unknown message types are an error.
func Points(m proto.Message) ([]*write.Point, error) {
	switch m := m.(type) {
	case *nwv1.NodeSample:
		if m.GetTime() == nil {
			return nil, ErrNoTime
		}
		return nodePoints(m), nil
	case *nwv1.ContainerSamples:
		if m.GetTime() == nil {
			return nil, ErrNoTime
		}
		return containerPoints(m), nil
	case *nwv1.HealthReport:
		if m.GetTime() == nil {
			return nil, ErrNoTime
		}
		return []*write.Point{healthPoint(m)}, nil
	case *nwv1.Problem:
		if m.GetTime() == nil {
			return nil, ErrNoTime
		}
		return []*write.Point{problemPoint(m)}, nil
	case *nwv1.RebootStatus:
		if m.GetTime() == nil {
			return nil, ErrNoTime
		}
		return []*write.Point{rebootPoint(m)}, nil
	}
	return nil, fmt.Errorf("no InfluxDB points for %T", m)
}

// Count estimates how many points m becomes without building them, to weigh consumer batches.
func Count(m proto.Message) int {
	switch m := m.(type) {
	case *nwv1.NodeSample:
		return 1 + len(m.GetFilesystems()) + len(m.GetNetworks())
	case *nwv1.ContainerSamples:
		n := len(m.GetContainers())
		for _, p := range m.GetPods() {
			n += len(p.GetInterfaces())
		}
		return n
	}
	return 1
}

// point collects one point's tags and fields, leaving out empty tags (InfluxDB rejects them)
// and non-finite floats (line protocol cannot carry them).
type point struct {
	tags   map[string]string
	fields map[string]any
}

func newPoint(tags ...string) *point {
	p := &point{tags: make(map[string]string, len(tags)/2), fields: make(map[string]any, 16)}
	for i := 0; i+1 < len(tags); i += 2 {
		if tags[i+1] != "" {
			p.tags[tags[i]] = tags[i+1]
		}
	}
	return p
}

func (p *point) float(k string, v float64) *point {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		p.fields[k] = v
	}
	return p
}

// uint stores an unsigned counter as a signed integer: InfluxDB 1.x OSS rejects the unsigned
// type, and 2^63 bytes or events is out of reach.
func (p *point) uint(k string, v uint64) *point {
	p.fields[k] = int64(min(v, math.MaxInt64))
	return p
}

func (p *point) int(k string, v int64) *point { p.fields[k] = v; return p }

func (p *point) str(k, v string) *point {
	if v != "" {
		p.fields[k] = v
	}
	return p
}

func (p *point) boolean(k string, v bool) *point { p.fields[k] = v; return p }

func (p *point) at(measurement string, t time.Time) *write.Point {
	return write.NewPoint(measurement, p.tags, p.fields, t)
}

func nodePoints(m *nwv1.NodeSample) []*write.Point {
	t := m.GetTime().AsTime()
	n := newPoint("node", m.GetNode()).
		float("uptime_seconds", m.GetUptimeSeconds()).
		uint("seq", m.GetSeq()).
		str("boot_id", m.GetBootId())
	if c := m.GetCpu(); c != nil {
		n.float("cpu_user_seconds", c.GetUserSeconds()).
			float("cpu_nice_seconds", c.GetNiceSeconds()).
			float("cpu_system_seconds", c.GetSystemSeconds()).
			float("cpu_idle_seconds", c.GetIdleSeconds()).
			float("cpu_iowait_seconds", c.GetIowaitSeconds()).
			float("cpu_irq_seconds", c.GetIrqSeconds()).
			float("cpu_softirq_seconds", c.GetSoftirqSeconds()).
			float("cpu_steal_seconds", c.GetStealSeconds()).
			uint("cpu_cores", uint64(c.GetCores()))
	}
	if l := m.GetLoad(); l != nil {
		n.float("load1", l.GetLoad1()).float("load5", l.GetLoad5()).float("load15", l.GetLoad15())
	}
	if mem := m.GetMemory(); mem != nil {
		n.uint("memory_total_bytes", mem.GetTotalBytes()).
			uint("memory_available_bytes", mem.GetAvailableBytes()).
			uint("memory_free_bytes", mem.GetFreeBytes()).
			uint("memory_cached_bytes", mem.GetCachedBytes()).
			uint("memory_buffers_bytes", mem.GetBuffersBytes()).
			uint("memory_swap_total_bytes", mem.GetSwapTotalBytes()).
			uint("memory_swap_free_bytes", mem.GetSwapFreeBytes())
	}
	if ps := m.GetPressure(); ps != nil {
		for _, l := range []struct {
			name string
			line *nwv1.PressureLine
		}{
			{"cpu_some", ps.GetCpuSome()}, {"memory_some", ps.GetMemorySome()}, {"memory_full", ps.GetMemoryFull()},
			{"io_some", ps.GetIoSome()}, {"io_full", ps.GetIoFull()},
		} {
			if l.line == nil {
				continue
			}
			pre := "pressure_" + l.name + "_"
			n.float(pre+"avg10", l.line.GetAvg10()).float(pre+"avg60", l.line.GetAvg60()).
				float(pre+"avg300", l.line.GetAvg300()).uint(pre+"total_usec", l.line.GetTotalUsec())
		}
	}
	pts := make([]*write.Point, 0, 1+len(m.GetFilesystems())+len(m.GetNetworks()))
	pts = append(pts, n.at(MeasurementNode, t))
	for _, fs := range m.GetFilesystems() {
		pts = append(pts, newPoint("node", m.GetNode(), "mountpoint", fs.GetMountpoint(),
			"device", fs.GetDevice(), "fstype", fs.GetFstype()).
			uint("size_bytes", fs.GetSizeBytes()).
			uint("free_bytes", fs.GetFreeBytes()).
			uint("avail_bytes", fs.GetAvailBytes()).
			uint("files", fs.GetFiles()).
			uint("files_free", fs.GetFilesFree()).
			at(MeasurementFilesystem, t))
	}
	for _, nw := range m.GetNetworks() {
		pts = append(pts, network(newPoint("node", m.GetNode(), "interface", nw.GetInterface()), nw).
			at(MeasurementNetwork, t))
	}
	return pts
}

func network(p *point, n *nwv1.NetworkStats) *point {
	return p.uint("rx_bytes", n.GetRxBytes()).
		uint("rx_packets", n.GetRxPackets()).
		uint("rx_errors", n.GetRxErrors()).
		uint("rx_dropped", n.GetRxDropped()).
		uint("tx_bytes", n.GetTxBytes()).
		uint("tx_packets", n.GetTxPackets()).
		uint("tx_errors", n.GetTxErrors()).
		uint("tx_dropped", n.GetTxDropped())
}

// qosNames are Kubernetes' names of the QoS classes.
var qosNames = map[nwv1.QOSClass]string{
	nwv1.QOSClass_QOS_CLASS_GUARANTEED:  "Guaranteed",
	nwv1.QOSClass_QOS_CLASS_BURSTABLE:   "Burstable",
	nwv1.QOSClass_QOS_CLASS_BEST_EFFORT: "BestEffort",
}

func containerPoints(m *nwv1.ContainerSamples) []*write.Point {
	t := m.GetTime().AsTime()
	pts := make([]*write.Point, 0, Count(m))
	for _, c := range m.GetContainers() {
		p := newPoint("node", m.GetNode(), "namespace", c.GetNamespace(), "pod", c.GetPodName(),
			"container", c.GetName(), "container_id", c.GetId(), "qos", qosNames[c.GetQosClass()]).
			str("image", c.GetImage()).
			str("pod_uid", c.GetPodUid()).
			uint("pids", c.GetPids())
		if cpu := c.GetCpu(); cpu != nil {
			p.float("cpu_usage_seconds", cpu.GetUsageSeconds()).
				float("cpu_user_seconds", cpu.GetUserSeconds()).
				float("cpu_system_seconds", cpu.GetSystemSeconds()).
				uint("cpu_periods", cpu.GetPeriods()).
				uint("cpu_throttled_periods", cpu.GetThrottledPeriods()).
				float("cpu_throttled_seconds", cpu.GetThrottledSeconds()).
				int("cpu_quota_usec", cpu.GetQuotaUsec()).
				uint("cpu_period_usec", cpu.GetPeriodUsec()).
				uint("cpu_shares", cpu.GetShares())
		}
		if mem := c.GetMemory(); mem != nil {
			p.uint("memory_usage_bytes", mem.GetUsageBytes()).
				uint("memory_working_set_bytes", mem.GetWorkingSetBytes()).
				uint("memory_rss_bytes", mem.GetRssBytes()).
				uint("memory_cache_bytes", mem.GetCacheBytes()).
				uint("memory_limit_bytes", mem.GetLimitBytes()).
				uint("memory_oom_events", mem.GetOomEvents()).
				uint("memory_swap_bytes", mem.GetSwapBytes())
		}
		if b := c.GetBlkio(); b != nil {
			p.uint("blkio_read_bytes", b.GetReadBytes()).
				uint("blkio_write_bytes", b.GetWriteBytes()).
				uint("blkio_read_ops", b.GetReadOps()).
				uint("blkio_write_ops", b.GetWriteOps())
		}
		pts = append(pts, p.at(MeasurementContainer, t))
	}
	for _, pod := range m.GetPods() {
		for _, nw := range pod.GetInterfaces() {
			// interface is a tag too: a pod with two interfaces would otherwise write two
			// points of the same identity, and the second would overwrite the first.
			p := newPoint("node", m.GetNode(), "namespace", pod.GetNamespace(), "pod", pod.GetPodName(),
				"interface", nw.GetInterface()).str("pod_uid", pod.GetPodUid())
			pts = append(pts, network(p, nw).at(MeasurementPodNetwork, t))
		}
	}
	return pts
}

func healthPoint(m *nwv1.HealthReport) *write.Point {
	up := int64(0)
	if m.GetHealthy() {
		up = 1
	}
	p := newPoint("node", m.GetNode(), "component", m.GetComponent()).
		boolean("healthy", m.GetHealthy()).
		int("up", up).
		str("message", m.GetMessage()).
		str("check", m.GetCheck()).
		uint("restart_count", uint64(m.GetRestartCount())).
		uint("seq", m.GetSeq())
	if l := m.GetLatency(); l != nil {
		p.float("latency_seconds", l.AsDuration().Seconds())
	}
	return p.at(MeasurementHealth, m.GetTime().AsTime())
}

// enumName turns PROBLEM_KIND_EVENT into "event" given the prefix "PROBLEM_KIND_".
func enumName(s, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s, prefix))
}

func problemPoint(m *nwv1.Problem) *write.Point {
	p := newPoint("node", m.GetNode(), "source", m.GetSource(),
		"kind", enumName(m.GetKind().String(), "PROBLEM_KIND_"), "type", m.GetType(),
		"reason", m.GetReason(), "severity", enumName(m.GetSeverity().String(), "SEVERITY_")).
		int("count", 1).
		str("id", m.GetId()).
		str("message", m.GetMessage()).
		str("namespace", m.GetNamespace()).
		str("pod", m.GetPod()).
		str("container", m.GetContainer()).
		str("container_id", m.GetContainerId()).
		str("pod_uid", m.GetPodUid())
	if m.GetKind() == nwv1.ProblemKind_PROBLEM_KIND_CONDITION {
		status := map[nwv1.ConditionStatus]string{
			nwv1.ConditionStatus_CONDITION_STATUS_TRUE:    "True",
			nwv1.ConditionStatus_CONDITION_STATUS_FALSE:   "False",
			nwv1.ConditionStatus_CONDITION_STATUS_UNKNOWN: "Unknown",
		}[m.GetStatus()]
		p.str("status", status)
		if m.GetStatus() == nwv1.ConditionStatus_CONDITION_STATUS_TRUE {
			p.int("condition_true", 1)
		} else {
			p.int("condition_true", 0)
		}
	}
	return p.at(MeasurementProblem, m.GetTime().AsTime())
}

func rebootPoint(m *nwv1.RebootStatus) *write.Point {
	return newPoint("node", m.GetNode(), "phase", enumName(m.GetPhase().String(), "REBOOT_PHASE_")).
		int("phase_code", int64(m.GetPhase())).
		str("request_id", m.GetRequestId()).
		str("detail", m.GetDetail()).
		str("boot_id", m.GetBootId()).
		uint("seq", m.GetSeq()).
		at(MeasurementRebootStatus, m.GetTime().AsTime())
}

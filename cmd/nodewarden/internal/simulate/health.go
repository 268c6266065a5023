package simulate

import (
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// healthCheck is one component's report, as the collector's kubelet and CRI checks word them.
type healthCheck struct {
	msg                 *nwv1.HealthReport
	latency             time.Duration // typical
	healthyMsg, failMsg string
	failLatency         time.Duration
}

func newHealthChecks(node string, start time.Time) [2]healthCheck {
	mk := func(component, check string) *nwv1.HealthReport {
		return &nwv1.HealthReport{Node: node, Component: component, Check: check,
			Time: &timestamppb.Timestamp{}, Latency: &durationpb.Duration{}, CollectorStart: timestamppb.New(start)}
	}
	return [2]healthCheck{
		{msg: mk("kubelet", "GET http://127.0.0.1:10248/healthz"), latency: 2 * time.Millisecond,
			failMsg:     `Get "http://127.0.0.1:10248/healthz": dial tcp 127.0.0.1:10248: connect: connection refused`,
			failLatency: 300 * time.Microsecond},
		{msg: mk("containerd", "CRI Version, Status on unix:///run/containerd/containerd.sock"), latency: 5 * time.Millisecond,
			healthyMsg:  "containerd v2.0.5 (CRI v1)",
			failMsg:     "timed out after 2s: rpc error: code = DeadlineExceeded desc = context deadline exceeded",
			failLatency: 2 * time.Second},
	}
}

func (h *healthCheck) update(r *rand.Rand, now time.Time, unhealthyRate float64) {
	m := h.msg
	m.Seq++
	setTime(m.Time, now)
	m.Healthy = r.Float64() >= unhealthyRate
	lat := h.latency/2 + time.Duration(r.Int64N(int64(h.latency)))
	m.Message = h.healthyMsg
	if !m.Healthy {
		lat, m.Message = h.failLatency, h.failMsg
	}
	m.Latency.Seconds, m.Latency.Nanos = int64(lat/time.Second), int32(lat%time.Second)
}

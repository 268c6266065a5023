package rebooter

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
)

// Reasons a reboot waits, the values of nodewarden_rebooter_blocked{reason}.
const (
	blockedWindow = "window"
	blockedPods   = "pods"
	blockedAlerts = "alerts"
	blockedLock   = "lock"
)

var blockedReasons = []string{blockedWindow, blockedPods, blockedAlerts, blockedLock}

type metrics struct {
	required      prometheus.Gauge // kured_reboot_required{node}
	requests      *prometheus.CounterVec
	blocked       *prometheus.GaugeVec
	phase         *prometheus.GaugeVec
	lockHeld      prometheus.Gauge
	reboots       prometheus.Counter
	completed     prometheus.Counter
	drainFailures prometheus.Counter
	stepErrors    prometheus.Counter
	statusErrors  prometheus.Counter
	downtime      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, node string) *metrics {
	kured := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kured_reboot_required",
		Help: "OS requires reboot due to software updates (kured's gauge: 1 while a reboot is pending on this node)."}, []string{"node"})
	m := &metrics{
		required: kured.WithLabelValues(node),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_rebooter_requests_total",
			Help: "Reboot requests received, by outcome: recorded (a new reboot), merged (into the pending one), stale (the node rebooted since)."}, []string{"outcome"}),
		blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nodewarden_rebooter_blocked",
			Help: "1 while the pending reboot waits for this reason: window, pods, alerts or lock."}, []string{"reason"}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nodewarden_rebooter_phase",
			Help: "1 for the phase of the last reboot status this node published."}, []string{"phase"}),
		lockHeld: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nodewarden_rebooter_lock_held",
			Help: "1 while this node holds a reboot lock slot."}),
		reboots: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_rebooter_reboots_total",
			Help: "Reboot commands or signals issued."}),
		completed: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_rebooter_completed_total",
			Help: "Reboots completed: the node came back with a new boot id, uncordoned, lock released."}),
		drainFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_rebooter_drain_failures_total",
			Help: "Drains that failed (refused evictions, timeouts)."}),
		stepErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_rebooter_step_errors_total",
			Help: "Work-loop steps that failed on NATS or Kubernetes and were retried."}),
		statusErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_rebooter_status_publish_errors_total",
			Help: "RebootStatus messages that could not be published."}),
		downtime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nodewarden_rebooter_last_downtime_seconds",
			Help: "From the reboot command to the node being back and uncordoned, for the last completed reboot."}),
	}
	for _, o := range []string{"recorded", "merged", "stale"} {
		m.requests.WithLabelValues(o)
	}
	for _, r := range blockedReasons {
		m.blocked.WithLabelValues(r)
	}
	reg.MustRegister(kured, m.requests, m.blocked, m.phase, m.lockHeld, m.reboots, m.completed, m.drainFailures,
		m.stepErrors, m.statusErrors, m.downtime)
	return m
}

// setBlocked marks reason ("" for none) as the one the reboot waits for.
func (m *metrics) setBlocked(reason string) {
	for _, r := range blockedReasons {
		v := 0.0
		if r == reason {
			v = 1
		}
		m.blocked.WithLabelValues(r).Set(v)
	}
}

func phaseName(p nwv1.RebootPhase) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "REBOOT_PHASE_"))
}

// publish sends one RebootStatus, retrying a little: the sink's Slack output and operators
// follow these. A status that cannot be sent is logged and counted, never blocks the reboot.
func (w *worker) publish(ctx context.Context, requestID, bootID string, phase nwv1.RebootPhase, detail string) {
	seq := w.seq.Add(1)
	st := &nwv1.RebootStatus{Node: w.cfg.Node, Time: timestamppb.New(w.now()), RequestId: requestID, Phase: phase,
		Detail: detail, Seq: seq, BootId: bootID}
	subj, _ := w.rt.Subjects.RebootStatus(w.cfg.Node) // the node name was validated
	id := msgid.RebootStatus(w.cfg.Node, requestID, w.start, seq)
	var err error
	for attempt := range 3 {
		if _, err = w.rt.Publisher.Publish(ctx, subj, id, st, nil); err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	name := phaseName(phase)
	if err != nil {
		w.m.statusErrors.Inc()
		w.log.Warn("reboot status not published", "phase", name, "detail", detail, "err", err)
	}
	w.log.Info("reboot "+name, "request_id", requestID, "detail", detail)
	w.m.phase.Reset()
	w.m.phase.WithLabelValues(name).Set(1)
	w.mu.Lock()
	w.state = name + ": " + detail
	if phase != nwv1.RebootPhase_REBOOT_PHASE_BLOCKED {
		w.lastBlocked = ""
	}
	w.mu.Unlock()
}

// publishBlocked publishes a blocked status unless it says what the last one said, so a
// reboot waiting hours does not post the same reason every period.
func (w *worker) publishBlocked(ctx context.Context, requestID, bootID, reason, detail string) {
	w.m.setBlocked(reason)
	w.mu.Lock()
	same := w.lastBlocked == requestID+"\x00"+detail
	w.lastBlocked = requestID + "\x00" + detail
	w.mu.Unlock()
	if same {
		return
	}
	w.publish(ctx, requestID, bootID, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, detail)
	w.mu.Lock()
	w.lastBlocked = requestID + "\x00" + detail
	w.mu.Unlock()
}

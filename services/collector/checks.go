package collector

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/services/collector/cri"
	"github.com/nodewarden/nodewarden/services/collector/health"
	"github.com/nodewarden/nodewarden/services/collector/outbox"
	"github.com/nodewarden/nodewarden/services/collector/sentinel"
)

// checkers are the configured health checks.
func (c *collector) checkers(ctx context.Context) ([]health.Checker, func()) {
	var out []health.Checker
	closeAll := func() {}
	if c.cfg.KubeletHealthzURL != "" {
		out = append(out, health.Kubelet(c.cfg.KubeletHealthzURL, c.cfg.HealthTimeout))
	}
	if c.cfg.CRISocket != "" {
		// A client of its own: the names cache's slow list must not delay the health check.
		if cl, err := cri.Dial(ctx, c.cfg.CRISocket, c.cfg.HealthTimeout); err != nil {
			c.log.Warn("container runtime not checked", "cri_socket", c.cfg.CRISocket, "err", err)
		} else {
			out = append(out, health.CRI(cl, criComponent(c.cfg.CRISocket)))
			closeAll = func() { cl.Close() }
		}
	}
	if c.cfg.DockerSocket != "" {
		out = append(out, health.Docker(c.cfg.DockerSocket, c.cfg.HealthTimeout))
	}
	for _, u := range c.cfg.SystemdUnits {
		out = append(out, health.SystemdUnit(u, c.cfg.HealthTimeout))
	}
	return out, closeAll
}

// runHealth checks every component each health interval and queues a HealthReport per check.
func (c *collector) runHealth(ctx context.Context) error {
	subj, err := c.rt.Subjects.Health(c.cfg.Node)
	if err != nil {
		return err
	}
	checkers, closeAll := c.checkers(ctx)
	defer closeAll()
	var seq uint64
	start := timestamppb.New(c.start)
	health.Run(ctx, checkers, c.cfg.HealthInterval, func(r health.Result) {
		seq++
		c.m.healthChecks.WithLabelValues(r.Component, strconv.FormatBool(r.Healthy)).Inc()
		c.offer(subj, msgid.Health(c.cfg.Node, r.Component, c.start, seq), &nwv1.HealthReport{
			Node: c.cfg.Node, Time: timestamppb.Now(), Seq: seq, Component: r.Component, Healthy: r.Healthy,
			Message: r.Message, Latency: durationpb.New(r.Latency), Check: r.Check, RestartCount: r.RestartCount,
			CollectorStart: start,
		})
	})
	return nil
}

// runSentinel checks the reboot sentinel every period; a request is sent as a reboot-class
// message (never dropped) and the boot id is saved only once it is stored.
func (c *collector) runSentinel(ctx context.Context) error {
	argv, _ := c.cfg.sentinelCommand() // validated
	w, err := sentinel.New(sentinel.Options{HostRoot: c.cfg.HostRoot, Path: c.cfg.RebootSentinel, Command: argv,
		HostPIDNs: c.cfg.HostPIDNs, Interval: c.cfg.Period, Node: c.cfg.Node, StateDir: c.cfg.StateDir, Logger: c.log})
	if err != nil {
		return err
	}
	if !w.Enabled() {
		return nil
	}
	subj, err := c.rt.Subjects.RebootRequired(c.cfg.Node)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		event string
		get   func(sentinel.Counts) uint64
	}{
		{"check", func(s sentinel.Counts) uint64 { return s.Checks }},
		{"required", func(s sentinel.Counts) uint64 { return s.Required }},
		{"published", func(s sentinel.Counts) uint64 { return s.Published }},
		{"check_error", func(s sentinel.Counts) uint64 { return s.CheckErrors }},
		{"publish_error", func(s sentinel.Counts) uint64 { return s.PublishErrors }},
	} {
		get := f.get
		c.m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nodewarden_collector_sentinel_total",
			Help: "Reboot sentinel checks and what came of them, by event.", ConstLabels: prometheus.Labels{"event": f.event}},
			func() float64 { return float64(get(w.Counts())) }))
	}
	w.Run(ctx, func(ctx context.Context, r *nwv1.RebootRequired) error {
		return c.send(ctx, subj, msgid.RebootRequired(r.RequestId), r, outbox.Reboot)
	})
	return nil
}

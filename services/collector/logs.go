package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/collector/logwatch"
	"github.com/nodewarden/nodewarden/services/collector/outbox"
)

// logLoop returns the loop that watches one monitor's log. A log that cannot be read here
// (no /dev/kmsg on a laptop or in an unprivileged container) ends only its own loop: it is said
// once in the log and in /readyz's detail, and the collector goes on.
func (c *collector) logLoop(mon *npdconfig.Monitor) func(context.Context) error {
	return func(ctx context.Context) error {
		subj, err := c.rt.Subjects.Log(mon.Source, c.cfg.Node)
		if err != nil {
			return fmt.Errorf("log monitor %s: %w", mon.Path, err)
		}
		w, err := logwatch.New(mon, logwatch.Options{HostRoot: c.cfg.HostRoot, StateDir: c.cfg.StateDir,
			Node: c.cfg.Node, Logger: c.log})
		if err != nil {
			return err
		}
		c.rt.AddDetail("log "+mon.Source, func() string {
			if err := w.Status(); err != nil {
				return err.Error()
			}
			return ""
		})
		c.m.watchLog(mon.Source, w)
		publish := func(ctx context.Context, b *nwv1.LogBatch) error {
			id := msgid.LogBatch(c.cfg.Node, b.Source, b.StreamId, b.FirstSeq)
			err := c.send(ctx, subj, id, b, outbox.Log)
			if errors.Is(err, outbox.ErrDropped) {
				c.m.logBatchesDropped.Inc() // the watcher retries the same batch
			}
			return err
		}
		return w.Run(ctx, publish)
	}
}

// watchLog exports a watcher's counters.
func (m *metrics) watchLog(source string, w *logwatch.Watcher) {
	l := prometheus.Labels{"source": source}
	for _, f := range []struct {
		name, help string
		get        func(logwatch.Counts) uint64
	}{
		{"nodewarden_collector_log_lines_read_total", "Log lines read, parsed or not.", func(c logwatch.Counts) uint64 { return c.LinesRead }},
		{"nodewarden_collector_log_lines_published_total", "Log lines published.", func(c logwatch.Counts) uint64 { return c.LinesPublished }},
		{"nodewarden_collector_log_lines_skipped_total", "Log lines read and not published: before the lookback, in the skip list, or published before a restart.", func(c logwatch.Counts) uint64 { return c.LinesSkipped }},
		{"nodewarden_collector_log_lines_lost_total", "Kernel log records overwritten before they were read.", func(c logwatch.Counts) uint64 { return c.LinesLost }},
		{"nodewarden_collector_log_overruns_total", "Times the kernel reported overwritten records (EPIPE).", func(c logwatch.Counts) uint64 { return c.Overruns }},
		{"nodewarden_collector_log_parse_errors_total", "Log lines that could not be parsed.", func(c logwatch.Counts) uint64 { return c.ParseErrors }},
		{"nodewarden_collector_log_publish_errors_total", "Failed attempts to publish a log batch (each retried).", func(c logwatch.Counts) uint64 { return c.PublishErrors }},
		{"nodewarden_collector_log_state_errors_total", "Log state files that could not be read or written.", func(c logwatch.Counts) uint64 { return c.StateErrors }},
	} {
		get := f.get
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: f.name, Help: f.help, ConstLabels: l},
			func() float64 { return float64(get(w.Counts())) }))
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nodewarden_collector_log_readable",
		Help: "1 while the monitor's log is read, 0 when it cannot be read here.", ConstLabels: l},
		func() float64 {
			if w.Status() != nil {
				return 0
			}
			return 1
		}))
}

package collector

import "github.com/prometheus/client_golang/prometheus"

// metrics are the collector's own, beside the kit's and the outbox's.
type metrics struct {
	reg               prometheus.Registerer
	pass              *prometheus.HistogramVec
	readErrors        *prometheus.CounterVec
	parseErrors       *prometheus.CounterVec
	containers        prometheus.Gauge
	vanished          prometheus.Counter
	logBatchesDropped prometheus.Counter
	healthChecks      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reg: reg,
		pass: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nodewarden_collector_pass_seconds",
			Help:    "Time one collection pass took, by part (node, containers).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"part"}),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_collector_read_errors_total",
			Help: "Files that could not be read, by part."}, []string{"part"}),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_collector_parse_errors_total",
			Help: "Files that were read but did not parse, by part."}, []string{"part"}),
		containers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nodewarden_collector_containers",
			Help: "Containers in the last container sample."}),
		vanished: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_collector_containers_vanished_total",
			Help: "Containers that disappeared while being read and were skipped."}),
		logBatchesDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_collector_log_batches_requeued_total",
			Help: "Log batches pushed out of a full outbox; the watcher sends them again."}),
		healthChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_collector_health_checks_total",
			Help: "Health checks run, by component and result."}, []string{"component", "healthy"}),
	}
	for _, p := range []string{"node", "containers"} {
		m.readErrors.WithLabelValues(p)
		m.parseErrors.WithLabelValues(p)
	}
	reg.MustRegister(m.pass, m.readErrors, m.parseErrors, m.containers, m.vanished, m.logBatchesDropped, m.healthChecks)
	return m
}

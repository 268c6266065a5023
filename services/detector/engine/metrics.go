package engine

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engines' counters, shared by every partition's engine of a process.
type Metrics struct {
	Lines, Events, Changes, Reboots, UnknownSources prometheus.Counter
	Gaps                                            *prometheus.CounterVec
}

// NewMetrics registers the counters.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &Metrics{
		Lines:          c("nodewarden_detector_log_lines_total", "Log lines evaluated."),
		Events:         c("nodewarden_detector_events_total", "Temporary problems published."),
		Changes:        c("nodewarden_detector_condition_changes_total", "Condition changes published."),
		Reboots:        c("nodewarden_detector_reboot_requests_total", "Reboot requests published by rules."),
		UnknownSources: c("nodewarden_detector_unknown_source_batches_total", "Log batches of a source no loaded rule file has."),
		Gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_detector_log_gap_lines_total",
			Help: "Log lines lost before the detector saw them (gaps in a node's sequence), per node."}, []string{"node"}),
	}
	reg.MustRegister(m.Lines, m.Events, m.Changes, m.Reboots, m.UnknownSources, m.Gaps)
	return m
}

package slack

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	posted     *prometheus.CounterVec
	errors     *prometheus.CounterVec
	duplicates prometheus.Counter
	skipped    prometheus.Counter
	folded     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		posted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewarden_sink_slack_posts_total",
			Help: "Messages posted, by target: slack, slack_summary (a folded burst), notify (--notify-url).",
		}, []string{"target"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewarden_sink_slack_errors_total",
			Help: "Failed posts by kind: rate_limited (retried in place), error (retried by the consumer), record (posted id not remembered).",
		}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_sink_slack_duplicates_total",
			Help: "Redelivered messages acked without posting because their id was already posted.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_sink_slack_skipped_total",
			Help: "Problems below --slack-min-severity.",
		}),
		folded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_sink_slack_folded_total",
			Help: "Messages folded into a burst summary instead of posted one by one.",
		}),
	}
	reg.MustRegister(m.posted, m.errors, m.duplicates, m.skipped, m.folded)
	return m
}

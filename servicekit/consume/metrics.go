package consume

import "github.com/prometheus/client_golang/prometheus"

// Metrics count what every consumer of a process did; register one set per registry.
type Metrics struct {
	processed *prometheus.CounterVec
	dead      *prometheus.CounterVec
}

// NewMetrics registers the consume metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewarden_consumed_messages_total",
			Help: "Deliveries settled by a consumer, by result: ok (acked), retry (nak'ed), dead (dead-lettered).",
		}, []string{"consumer", "result"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewarden_dead_letters_total",
			Help: "Messages terminated and copied to the DEAD stream, by reason: decode, rejected, panic.",
		}, []string{"stream", "consumer", "reason"}),
	}
	reg.MustRegister(m.processed, m.dead)
	return m
}

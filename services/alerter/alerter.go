// Package alerter turns problems into Alertmanager alerts that fire and resolve the moment the
// detector decides, and (in a cluster) into Kubernetes node conditions and events, as NPD's k8s
// exporter does. Conditions come from NW_CONDITIONS — the state, watched — so a restarted
// alerter resumes from it: every True condition is re-posted firing each resend interval with
// endsAt four intervals ahead (Alertmanager resolves it by itself if the alerter is gone for
// good), every condition that went False is posted resolved and re-posted so for 15 minutes.
// Temporary problems come from EVENTS through a durable consumer, acked once posted.
package alerter

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/alerter/am"
	"github.com/nodewarden/nodewarden/services/alerter/kube"
)

// Durable is the events consumer's name.
const Durable = "alerter-events"

// Config is the alerter's configuration.
type Config struct {
	daemon.Common
	AM             am.Options
	ResendInterval time.Duration
	EventSeverity  string
	EventTTL       time.Duration
	ExtraLabels    config.StringList
	GeneratorURL   string
	Kube           kube.Options

	// KubeClient replaces the client built from Kube's options (tests).
	KubeClient kubernetes.Interface
	Now        func() time.Time
}

// AddFlags registers the alerter's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, ":9105")
	c.AM.AddFlags(fs)
	fs.DurationVar(&c.ResendInterval, "resend-interval", time.Minute, "how often active alerts are re-posted; each says endsAt = now + 4 × this")
	fs.StringVar(&c.EventSeverity, "event-severity", "warning", "temporary problems at or above this severity (info, warning, critical) post a short-lived alert")
	fs.DurationVar(&c.EventTTL, "event-ttl", 10*time.Minute, "how long a temporary problem's alert lasts (its endsAt)")
	fs.Var(&c.ExtraLabels, "extra-label", "k=v label added to every alert (repeatable), e.g. cluster=prod")
	fs.StringVar(&c.GeneratorURL, "generator-url", "", "generatorURL of the alerts, e.g. a Grafana dashboard link; {node} and {alertname} are replaced")
	c.Kube.AddFlags(fs)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.AM.Validate(); err != nil {
		return err
	}
	if c.ResendInterval < time.Second {
		return config.Invalid("resend-interval", c.ResendInterval, "must be at least 1s")
	}
	if _, ok := severityRank[c.EventSeverity]; !ok {
		return config.Invalid("event-severity", c.EventSeverity, "want info, warning or critical")
	}
	if c.EventTTL <= 0 {
		return config.Invalid("event-ttl", c.EventTTL, "must be positive")
	}
	if _, err := parseLabels(c.ExtraLabels); err != nil {
		return config.Invalid("extra-label", c.ExtraLabels.String(), "%v", err)
	}
	if err := c.Kube.Validate(); err != nil {
		return err
	}
	return c.Common.Validate()
}

var severityRank = map[string]int{"info": 0, "warning": 1, "critical": 2}

func parseLabels(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want name=value", p)
		}
		for i, r := range k {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
				return nil, fmt.Errorf("%q: %q is not a Prometheus label name", p, k)
			}
		}
		if slices.Contains([]string{LabelAlertName, LabelNode, LabelSeverity, LabelSource, LabelReason, LabelKind}, k) {
			return nil, fmt.Errorf("%q: %s is set by the alerter", p, k)
		}
		out[k] = v
	}
	return out, nil
}

// Needs are the streams and buckets the alerter uses.
var Needs = topology.Needs{
	Streams: []string{topology.StreamEvents, topology.StreamDead},
	Buckets: []string{topology.BucketConditions},
}

// Run runs the alerter until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	kc := cfg.KubeClient
	if kc == nil && cfg.Kube.Enabled {
		var err error
		if kc, err = cfg.Kube.Client(); err != nil {
			return err
		}
	}
	rt, err := daemon.Start(ctx, "alerter", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	extra, _ := parseLabels(cfg.ExtraLabels)
	b := builder{extra: extra, generatorURL: cfg.GeneratorURL, resend: cfg.ResendInterval, eventTTL: cfg.EventTTL}
	var client *am.Client
	if cfg.AM.Enabled() {
		if client, err = am.New(cfg.AM); err != nil {
			rt.Close()
			return err
		}
	}
	m := newMetrics(rt.Registry)
	var exporter *kube.Exporter
	if kc != nil {
		exporter = kube.New(kc, cfg.Kube, rt.Log, rt.Registry)
	}
	kv, err := rt.JS.KeyValue(ctx, topology.BucketConditions)
	if err != nil {
		rt.Close()
		return fmt.Errorf("open bucket %s: %w", topology.BucketConditions, err)
	}
	var cx conditionExporter
	if exporter != nil {
		cx = exporter
	}
	t := newTracker(kv, b, client, cx, rt.Log, m, now)
	ev := &events{b: b, client: client, kube: exporter, min: severityRank[cfg.EventSeverity], m: m, now: now}
	c, err := consume.New(rt.JS, rt.Publisher, consume.Config{
		Stream:        topology.StreamEvents,
		Durable:       Durable,
		Filters:       []string{rt.Subjects.All("problem")},
		DeadSubject:   rt.Subjects.Dead(topology.StreamEvents),
		Decode:        schema.Decoder(rt.Subjects),
		HandleBatch:   ev.handle,
		Batch:         500,
		FlushInterval: 20 * time.Millisecond,
	}, rt.Log, rt.Consume)
	if err != nil {
		rt.Close()
		return err
	}
	rt.Log.Info("alerting", "alertmanagers", cfg.AM.URLs.String(), "kubernetes", exporter != nil,
		"resend_interval", cfg.ResendInterval, "extra_labels", slices.Sorted(maps.Keys(extra)))
	var wg sync.WaitGroup
	wg.Go(func() { t.watch(ctx) })
	wg.Go(func() { t.run(ctx) })
	wg.Go(func() { _ = c.Run(ctx) })
	if exporter != nil {
		wg.Go(func() { _ = exporter.Run(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	rt.Close()
	return nil
}

type metrics struct {
	posted       *prometheus.CounterVec
	postErrors   *prometheus.CounterVec
	postDuration prometheus.Histogram
	active       prometheus.Gauge
	badStates    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		posted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_alerter_alerts_posted_total",
			Help: "Alerts posted to Alertmanager, by kind: condition (firing, resolved, re-sent) or event."}, []string{"kind"}),
		postErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_alerter_post_errors_total",
			Help: "Failed posts, by Alertmanager."}, []string{"alertmanager"}),
		postDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nodewarden_alerter_post_duration_seconds",
			Help: "Time of one PostAlerts round to every Alertmanager.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nodewarden_alerter_active_conditions",
			Help: "Conditions that are True, each a firing alert."}),
		badStates: prometheus.NewCounter(prometheus.CounterOpts{Name: "nodewarden_alerter_bad_states_total",
			Help: "NW_CONDITIONS values that could not be decoded."}),
	}
	m.posted.WithLabelValues("condition")
	m.posted.WithLabelValues("event")
	reg.MustRegister(m.posted, m.postErrors, m.postDuration, m.active, m.badStates)
	return m
}

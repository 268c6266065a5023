package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
)

// Retry of one API call: a few quick attempts, so a conflict or a busy API server is ridden out
// inside the call; past that the error goes back to the caller, which naks and tries later.
const (
	maxAttempts = 4
	retryBase   = 200 * time.Millisecond
	retryMax    = 2 * time.Second
)

// Retryable reports whether a failed call may succeed later: transport errors, timeouts,
// conflicts, throttling and server errors. Forbidden, NotFound, Invalid and the like will not
// change by retrying (a deleted Node, a missing RBAC rule), nor does an ended context.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // not an API answer: the request did not get through
	}
	return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err)
}

// limiter wraps the exporter's own token bucket around its calls and retries them.
type limiter struct {
	bucket flowcontrol.RateLimiter
	log    *slog.Logger
}

// do runs call after taking a token, retrying retryable failures with backoff.
func (l *limiter) do(ctx context.Context, what string, call func(context.Context) error) error {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			d := backoff.Duration(attempt-1, retryBase, retryMax)
			l.log.Debug("kube exporter: retrying", "call", what, "attempt", attempt, "in", d, "err", err)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
			case <-t.C:
			}
		}
		if werr := l.bucket.Wait(ctx); werr != nil {
			if err == nil {
				return fmt.Errorf("%s: rate limit wait: %w", what, werr)
			}
			return fmt.Errorf("%s: rate limit wait: %w (last error: %w)", what, werr, err)
		}
		if err = call(ctx); err == nil || !Retryable(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// metrics are the exporter's counters.
type metrics struct {
	conditionPatches *prometheus.CounterVec // by trigger: set, heartbeat
	events           *prometheus.CounterVec // by action: created, patched, dropped
	errors           *prometheus.CounterVec // by op: condition, heartbeat, event
	nodes            prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		conditionPatches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_alerter_kube_condition_patches_total",
			Help: "Node status patches that put conditions on a Node, by trigger (set, heartbeat)."}, []string{"trigger"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_alerter_kube_events_total",
			Help: "Kubernetes Events recorded, by action: created, patched (a repeat counted on the existing Event), dropped (by the per-node spam filter)."}, []string{"action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nodewarden_alerter_kube_errors_total",
			Help: "Kubernetes API calls of the exporter that failed after retries, by op (condition, heartbeat, event)."}, []string{"op"}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nodewarden_alerter_kube_heartbeat_nodes",
			Help: "Nodes whose conditions the exporter heartbeats."}),
	}
	for _, l := range []string{"set", "heartbeat"} {
		m.conditionPatches.WithLabelValues(l)
	}
	for _, l := range []string{"created", "patched", "dropped"} {
		m.events.WithLabelValues(l)
	}
	for _, l := range []string{"condition", "heartbeat", "event"} {
		m.errors.WithLabelValues(l)
	}
	if reg == nil {
		return m
	}
	m.conditionPatches = register(reg, log, m.conditionPatches)
	m.events = register(reg, log, m.events)
	m.errors = register(reg, log, m.errors)
	m.nodes = register(reg, log, m.nodes)
	return m
}

// register registers c, or returns the collector already registered under its name (a second
// exporter on the same registry shares the counters) rather than panicking.
func register[C prometheus.Collector](reg prometheus.Registerer, log *slog.Logger, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Warn("kube exporter: metric not registered", "err", err)
	}
	return c
}

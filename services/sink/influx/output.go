package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Durable consumer names of the output.
const (
	DurableSamples = "sink-influx-samples"
	DurableEvents  = "sink-influx-events"
)

// Output writes batches of messages to InfluxDB.
type Output struct {
	opts   Options
	client influxdb2.Client
	w      api.WriteAPIBlocking
	log    *slog.Logger
	m      *metrics
	// RetryBase and RetryMax bound the backoff between attempts of a failed write.
	retryBase, retryMax time.Duration
}

type metrics struct {
	points    prometheus.Counter
	errors    *prometheus.CounterVec
	batchSize prometheus.Histogram
	latency   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_sink_influx_points_written_total",
			Help: "Points InfluxDB accepted (a rewrite after a retry counts again).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewarden_sink_influx_write_errors_total",
			Help: "Failed InfluxDB writes, by kind: retryable (network, 5xx, 429, auth) or bad_data (400, 413, 422).",
		}, []string{"kind"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nodewarden_sink_influx_batch_points",
			Help:    "Points per InfluxDB write request.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nodewarden_sink_influx_write_duration_seconds",
			Help:    "Duration of one InfluxDB write request, successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
	}
	reg.MustRegister(m.points, m.errors, m.batchSize, m.latency)
	return m
}

// New validates o and returns an Output; it does not contact InfluxDB (a server that is down
// at start is retried by the writes). Close releases it.
func New(o Options, log *slog.Logger, reg prometheus.Registerer) (*Output, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if !o.Enabled() {
		return nil, errors.New("influx: --influx-url is empty")
	}
	tok, err := o.token()
	if err != nil {
		return nil, err
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(uint(max(o.Timeout.Round(time.Second)/time.Second, 1))).
		SetPrecision(time.Nanosecond)
	client := influxdb2.NewClientWithOptions(o.URL, tok, opts)
	return &Output{
		opts: o, client: client, w: client.WriteAPIBlocking(o.Org, o.Bucket),
		log: log.With("output", "influx"), m: newMetrics(reg),
		retryBase: 200 * time.Millisecond, retryMax: 10 * time.Second,
	}, nil
}

// Close releases the client's connections.
func (o *Output) Close() { o.client.Close() }

// Consumers returns the durable consumer configs that feed the output: samples and health
// from SAMPLES, problems and reboot status from EVENTS.
func (o *Output) Consumers(sp subject.Space) []consume.Config {
	mk := func(stream, durable string, filters ...string) consume.Config {
		return consume.Config{
			Stream: stream, Durable: durable, Filters: filters, DeadSubject: sp.Dead(stream),
			Decode: schema.Decoder(sp), HandleBatch: o.HandleBatch,
			Weigh: func(m *consume.Message) int { return Count(m.Payload) },
			Batch: o.opts.Batch, FlushInterval: o.opts.Flush,
		}
	}
	return []consume.Config{
		mk(topology.StreamSamples, DurableSamples,
			sp.Join("sample", "node", "*"), sp.Join("sample", "container", "*"), sp.Join("health", "*")),
		mk(topology.StreamEvents, DurableEvents, sp.Join("problem", "*"), sp.Join("reboot", "status", "*")),
	}
}

// item is one message's points.
type item struct {
	idx int
	pts []*write.Point
}

// HandleBatch converts the messages and writes their points, at most Options.Batch per request.
// Result i is nil once ms[i]'s points are stored, Permanent for a message that cannot be
// converted or that InfluxDB rejects as bad data, and a plain error when ctx ended first.
func (o *Output) HandleBatch(ctx context.Context, ms []*consume.Message) []error {
	errs := make([]error, len(ms))
	var chunk []item
	n := 0
	for i, m := range ms {
		pts, err := Points(m.Payload)
		if err != nil {
			errs[i] = consume.Permanent(fmt.Errorf("convert %s seq %d: %w", m.Subject, m.StreamSeq, err))
			continue
		}
		if n > 0 && n+len(pts) > o.opts.Batch {
			o.write(ctx, chunk, errs)
			chunk, n = nil, 0
		}
		chunk = append(chunk, item{i, pts})
		n += len(pts)
	}
	o.write(ctx, chunk, errs)
	return errs
}

// write stores items' points, splitting on bad data to find the messages InfluxDB rejects.
func (o *Output) write(ctx context.Context, items []item, errs []error) {
	var pts []*write.Point
	for _, it := range items {
		pts = append(pts, it.pts...)
	}
	if len(pts) == 0 {
		return
	}
	err := o.writeRetrying(ctx, pts)
	switch {
	case err == nil:
		return
	case !isBadData(err):
		for _, it := range items {
			errs[it.idx] = err
		}
	case len(items) == 1:
		errs[items[0].idx] = consume.Permanent(fmt.Errorf("influxdb rejected the points: %w", err))
	default:
		// InfluxDB 1.x may have stored the good points of a partial write already; writing
		// them again overwrites them with the same values.
		half := len(items) / 2
		o.write(ctx, items[:half], errs)
		o.write(ctx, items[half:], errs)
	}
}

// writeRetrying writes pts in one request, retrying with backoff until it succeeds, InfluxDB
// calls the data bad, or ctx ends.
func (o *Output) writeRetrying(ctx context.Context, pts []*write.Point) error {
	for attempt := 0; ; attempt++ {
		err := o.writeOnce(ctx, pts)
		if err == nil || isBadData(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("influxdb write of %d points abandoned: %w", len(pts), err)
		}
		wait := backoff.Duration(attempt, o.retryBase, o.retryMax)
		var he *http2.Error
		if errors.As(err, &he) && he.RetryAfter > 0 {
			wait = max(wait, time.Duration(he.RetryAfter)*time.Second)
		}
		o.log.Warn("influxdb write failed; retrying the same points", "points", len(pts),
			"attempt", attempt+1, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("influxdb write of %d points abandoned: %w", len(pts), err)
		case <-time.After(wait):
		}
	}
}

func (o *Output) writeOnce(ctx context.Context, pts []*write.Point) error {
	ctx, cancel := context.WithTimeout(ctx, o.opts.Timeout)
	defer cancel()
	start := time.Now()
	err := o.w.WritePoint(ctx, pts...)
	o.m.latency.Observe(time.Since(start).Seconds())
	o.m.batchSize.Observe(float64(len(pts)))
	if err != nil {
		kind := "retryable"
		if isBadData(err) {
			kind = "bad_data"
		}
		o.m.errors.WithLabelValues(kind).Inc()
		return fmt.Errorf("influxdb write of %d points: %w", len(pts), err)
	}
	o.m.points.Add(float64(len(pts)))
	return nil
}

// isBadData reports whether InfluxDB refused the data itself, so retrying cannot help.
// Other 4xx (401, 403, 404: credentials or a missing bucket) are an operator's to fix and
// are retried, rather than dead-lettering every message until they are.
func isBadData(err error) bool {
	var he *http2.Error
	if !errors.As(err, &he) {
		return false
	}
	switch he.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

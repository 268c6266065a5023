package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/servicekit/version"
)

// Runtime is what a running service stands on.
type Runtime struct {
	Name      string
	Log       *slog.Logger
	Registry  *prometheus.Registry
	Conn      *nats.Conn
	JS        jetstream.JetStream
	Subjects  subject.Space
	Publisher *publish.Publisher
	Consume   *consume.Metrics

	common   Common
	http     *http.Server
	httpAddr string
	httpDone chan struct{}
	checked  atomic.Bool
	nc       atomic.Pointer[nats.Conn] // Conn, for /readyz, which runs before Start returns
	mu       sync.Mutex
	checks   map[string]func() error
	details  map[string]func() string
	closed   sync.Once
}

// Start brings a service up: HTTP server first (so /healthz answers and /readyz says why it is
// not ready), then NATS, then a check of the streams and buckets in needs, retried until they
// exist. It returns once the check passed, or with an error when they are incompatible or ctx
// ends. Close (or Wait) shuts everything down.
func Start(ctx context.Context, name string, c Common, needs topology.Needs) (*Runtime, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = c.Log.New(os.Stderr)
	}
	log = log.With("service", name)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "nodewarden_build_info", Help: "Always 1; labels say which build runs.",
		ConstLabels: prometheus.Labels{"service": name, "version": version.Version}})
	build.Set(1)
	reg.MustRegister(build)

	r := &Runtime{Name: name, Log: log, Registry: reg, Subjects: subject.Space{Prefix: c.Prefix}, common: c,
		checks: map[string]func() error{}, details: map[string]func() string{}, httpDone: make(chan struct{})}
	if err := r.serveHTTP(); err != nil {
		return nil, err
	}
	nc, err := natsconn.Connect(c.NATS, "nodewarden-"+name, log, natsconn.NewMetrics(reg))
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Conn = nc
	r.nc.Store(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	r.JS = js
	r.Publisher = publish.New(js, reg)
	r.Consume = consume.NewMetrics(reg)
	if err := r.check(ctx, needs); err != nil {
		r.Close()
		return nil, err
	}
	log.Info("started", "version", version.Version, "http", r.httpAddr, "nats", nc.ConnectedUrlRedacted())
	return r, nil
}

func (r *Runtime) check(ctx context.Context, needs topology.Needs) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := topology.Check(cctx, r.JS, r.common.Prefix, needs)
		cancel()
		if err == nil {
			r.checked.Store(true)
			return nil
		}
		if errors.Is(err, topology.ErrIncompatible) {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		wait := backoff.Duration(attempt, 200*time.Millisecond, 5*time.Second)
		r.Log.Warn("streams not ready; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for streams: %w", r.Name, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func (r *Runtime) serveHTTP() error {
	ln, err := net.Listen("tcp", r.common.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on --http-listen %s: %w", r.common.HTTPAddr, err)
	}
	r.httpAddr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.Registry, promhttp.HandlerOpts{Registry: r.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error()+r.detailText(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok\n"+r.detailText())
	})
	if r.common.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	r.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.httpDone)
		if err := r.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.Log.Error("http server stopped", "err", err)
		}
	}()
	if r.common.OnListen != nil {
		r.common.OnListen(r.Name, r.httpAddr)
	}
	return nil
}

// HTTPAddr is where /metrics, /healthz and /readyz are served.
func (r *Runtime) HTTPAddr() string { return r.httpAddr }

// AddReadiness adds a check /readyz runs; a non-nil error makes the service unready.
func (r *Runtime) AddReadiness(name string, check func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = check
}

// AddDetail adds a line to /readyz's body that does not affect readiness: something degraded
// the operator should see (a log that cannot be read here) while the service goes on. detail
// returns "" when there is nothing to say.
func (r *Runtime) AddDetail(name string, detail func() string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.details[name] = detail
}

// detailText is the non-empty details, one "name: detail" line each, sorted by name.
func (r *Runtime) detailText() string {
	r.mu.Lock()
	names := make([]string, 0, len(r.details))
	fns := make(map[string]func() string, len(r.details))
	for name, fn := range r.details {
		names = append(names, name)
		fns[name] = fn
	}
	r.mu.Unlock()
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		if d := fns[name](); d != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, d)
		}
	}
	return b.String()
}

// Ready is nil when the service is connected, its streams checked, and every added check
// passes.
func (r *Runtime) Ready() error {
	if nc := r.nc.Load(); nc == nil || !nc.IsConnected() {
		return errors.New("nats not connected")
	}
	if !r.checked.Load() {
		return errors.New("streams and buckets not checked yet")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, check := range r.checks {
		if err := check(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// Wait blocks until ctx ends, then shuts down gracefully.
func (r *Runtime) Wait(ctx context.Context) error {
	<-ctx.Done()
	r.Close()
	return nil
}

// Close stops the HTTP server and drains the NATS connection (pending publishes are flushed,
// subscriptions finish), each within the shutdown timeout. It is safe to call twice.
func (r *Runtime) Close() {
	r.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.common.ShutdownTimeout)
		defer cancel()
		if r.Conn != nil {
			closed := make(chan struct{})
			r.Conn.SetClosedHandler(func(*nats.Conn) { close(closed) })
			if err := r.Conn.Drain(); err != nil {
				r.Conn.Close()
			} else {
				select {
				case <-closed:
				case <-ctx.Done():
					r.Conn.Close()
				}
			}
		}
		if r.http != nil {
			_ = r.http.Shutdown(ctx)
			<-r.httpDone
		}
		r.Log.Info("stopped")
	})
}

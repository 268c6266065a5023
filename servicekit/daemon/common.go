// Package daemon is the shape every nodewarden service shares: common flags (NATS, subject
// prefix, HTTP listener, logging), a Runtime that connects, checks the streams and buckets the
// service uses, and serves /metrics, /healthz and /readyz, graceful shutdown that drains the
// NATS connection, and Main, which turns flags and environment into a Config, maps SIGINT and
// SIGTERM to a cancelled context and exits 2 for bad configuration.
package daemon

import (
	"flag"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// Common is the configuration every service has.
type Common struct {
	NATS            natsconn.Options
	Prefix          string
	HTTPAddr        string
	Log             LogOptions
	ShutdownTimeout time.Duration
	// Pprof serves Go's /debug/pprof/ profiles beside /metrics: off by default, since a
	// profile shows the process's internals to whoever reaches the port.
	Pprof bool

	// Set by programs that embed services (nodewarden run, tests), not by flags.

	// Logger replaces the logger built from Log.
	Logger *slog.Logger
	// OnListen is told where the HTTP server listens once it does.
	OnListen func(service, addr string)
}

// AddFlags registers the common flags; defaultHTTP is the service's own default listen address.
func (c *Common) AddFlags(fs *flag.FlagSet, defaultHTTP string) {
	c.NATS.AddFlags(fs)
	fs.StringVar(&c.Prefix, "subject-prefix", subject.DefaultPrefix, "first token(s) of every nodewarden subject")
	fs.StringVar(&c.HTTPAddr, "http-listen", defaultHTTP, "address of the /metrics, /healthz and /readyz server (port 0 = any free port)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take before it is cut short")
	fs.BoolVar(&c.Pprof, "debug-pprof", false, "also serve Go's /debug/pprof/ profiles on --http-listen")
	c.Log.AddFlags(fs)
}

// Validate checks the common flags.
func (c Common) Validate() error {
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if err := subject.ValidatePrefix(c.Prefix); err != nil {
		return config.Invalid("subject-prefix", c.Prefix, "want dot-separated tokens of [-_a-zA-Z0-9]")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return config.Invalid("http-listen", c.HTTPAddr, "want host:port")
	}
	if c.ShutdownTimeout <= 0 {
		return config.Invalid("shutdown-timeout", c.ShutdownTimeout, "must be positive")
	}
	return c.Log.Validate()
}

// LogOptions choose the log format and level.
type LogOptions struct {
	Format string
	Level  string
}

// AddFlags registers --log-format and --log-level.
func (o *LogOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", "json", "log format: json or text")
	fs.StringVar(&o.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// Validate checks the log options.
func (o LogOptions) Validate() error {
	if err := config.OneOf("log-format", o.Format, "json", "text"); err != nil {
		return err
	}
	return config.OneOf("log-level", strings.ToLower(o.Level), "debug", "info", "warn", "error")
}

// New builds the logger these options describe, writing to w.
func (o LogOptions) New(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(o.Level))
	hopts := &slog.HandlerOptions{Level: lvl}
	if o.Format == "text" {
		return slog.New(slog.NewTextHandler(w, hopts))
	}
	return slog.New(slog.NewJSONHandler(w, hopts))
}

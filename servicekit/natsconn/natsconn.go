// Package natsconn connects a daemon to NATS the same way everywhere: URL, credentials file or
// user/password, TLS; reconnecting forever with capped exponential backoff and jitter; every
// state change logged and exported as metrics, so an operator sees a flapping connection.
package natsconn

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/config"
)

// DefaultURL is where a daemon looks for NATS when not told otherwise.
const DefaultURL = "nats://127.0.0.1:4222"

// Options say how to reach NATS.
type Options struct {
	URL       string
	CredsFile string
	User      string
	Password  string
	CAFile    string
	CertFile  string
	KeyFile   string
	// Longest wait between reconnect attempts; attempts back off from 100ms up to this.
	MaxReconnectWait time.Duration
}

// AddFlags registers the connection flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.URL, "nats-url", DefaultURL, "NATS server URL(s), comma-separated")
	fs.StringVar(&o.CredsFile, "nats-creds", "", "NATS credentials file (JWT + nkey seed); empty = none")
	fs.StringVar(&o.User, "nats-user", "", "NATS user name; empty = none")
	fs.StringVar(&o.Password, "nats-password", "", "NATS password for --nats-user")
	fs.StringVar(&o.CAFile, "nats-tls-ca", "", "CA bundle to verify the NATS server; empty = system roots")
	fs.StringVar(&o.CertFile, "nats-tls-cert", "", "client certificate for mutual TLS; empty = none")
	fs.StringVar(&o.KeyFile, "nats-tls-key", "", "client key for --nats-tls-cert")
	fs.DurationVar(&o.MaxReconnectWait, "nats-max-reconnect-wait", 5*time.Second, "longest wait between reconnect attempts (reconnects never stop)")
}

// Validate checks the options without connecting.
func (o Options) Validate() error {
	if o.URL == "" {
		return config.Invalid("nats-url", o.URL, "must not be empty")
	}
	for _, u := range strings.Split(o.URL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Host == "" {
			return config.Invalid("nats-url", o.URL, "want nats://host:port")
		}
		switch p.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return config.Invalid("nats-url", o.URL, "unknown scheme %q", p.Scheme)
		}
	}
	if o.CredsFile != "" && o.User != "" {
		return config.Invalid("nats-user", o.User, "use either --nats-creds or --nats-user")
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return config.Invalid("nats-tls-cert", o.CertFile, "--nats-tls-cert and --nats-tls-key go together")
	}
	for flagName, path := range map[string]string{"nats-creds": o.CredsFile, "nats-tls-ca": o.CAFile, "nats-tls-cert": o.CertFile, "nats-tls-key": o.KeyFile} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return config.Invalid(flagName, path, "%v", err)
		}
	}
	if o.MaxReconnectWait <= 0 {
		return config.Invalid("nats-max-reconnect-wait", o.MaxReconnectWait, "must be positive")
	}
	return nil
}

// Metrics are the connection's metrics; register one set per registry.
type Metrics struct {
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	disconnect prometheus.Counter
	asyncErrs  prometheus.Counter
}

// NewMetrics registers the connection metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodewarden_nats_connected", Help: "1 while connected to NATS, 0 otherwise."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_nats_reconnects_total", Help: "Reconnections to NATS."}),
		disconnect: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_nats_disconnects_total", Help: "Losses of the NATS connection."}),
		asyncErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_nats_async_errors_total", Help: "Asynchronous errors reported by the NATS client (slow consumers, permissions)."}),
	}
	reg.MustRegister(m.connected, m.reconnects, m.disconnect, m.asyncErrs)
	return m
}

// Connect dials NATS. It returns at once even when the server is not up yet: the client keeps
// retrying in the background (RetryOnFailedConnect), so a daemon started before its server
// comes up without a crash loop; callers watch Status or wait with WaitConnected.
func Connect(o Options, name string, log *slog.Logger, m *Metrics) (*nats.Conn, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	maxWait := o.MaxReconnectWait
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return backoff.Duration(attempts, 100*time.Millisecond, maxWait) }),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("nats connected", "url", c.ConnectedUrlRedacted(), "server", c.ConnectedServerName())
			m.connected.Set(1)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted(), "server", c.ConnectedServerName())
			m.reconnects.Inc()
			m.connected.Set(1)
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			m.connected.Set(0)
			if err != nil {
				m.disconnect.Inc()
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			m.connected.Set(0)
			log.Info("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			m.asyncErrs.Inc()
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.CertFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", redact(o.URL), err)
	}
	return nc, nil
}

func redact(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = url.User(p.User.Username())
		return p.String()
	}
	return u
}

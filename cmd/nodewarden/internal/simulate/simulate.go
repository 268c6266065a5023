// Package simulate is `nodewarden simulate`: a load generator for everything downstream of the
// collector. For N fake nodes it publishes, through the kit's publisher and with the message ids
// a real collector uses, a NodeSample and a ContainerSamples message of M containers every
// interval, a HealthReport for kubelet and containerd, and kernel-monitor LogBatches at a given
// line rate in which a chosen fraction of lines are real kernel messages that NPD's
// kernel-monitor.json rules match. Counters grow as real ones do, so sinks compute sane rates,
// and each node's publishes are spread over the interval rather than sent in one burst.
package simulate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Summary is the command's help text.
const Summary = "Publishes realistic synthetic node and container samples, health reports and kernel log lines\n" +
	"for N fake nodes, to load the detector, sink and alerter. Prints one summary line per interval;\n" +
	"exits 0 after --duration or on Ctrl-C. The streams must exist (nodewarden provision or run)."

// Limits of the flags: beyond them the generator is not the bottleneck any more, a typo is.
const (
	maxNodes      = 100_000
	maxContainers = 5_000
	maxLogRate    = 100_000
	minInterval   = 10 * time.Millisecond
)

// Config is the command's configuration.
type Config struct {
	NATS          natsconn.Options
	Prefix        string
	Nodes         int
	Containers    int
	Interval      time.Duration
	Duration      time.Duration
	LogRate       float64
	MatchRate     float64
	UnhealthyRate float64
	Seed          int64
	NodePrefix    string
	Concurrency   int
	Timeout       time.Duration
	Log           daemon.LogOptions
	Stdout        io.Writer
}

// AddFlags registers the flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.NATS.AddFlags(fs)
	fs.StringVar(&c.Prefix, "subject-prefix", subject.DefaultPrefix, "first token(s) of every nodewarden subject")
	fs.IntVar(&c.Nodes, "nodes", 1, "number of fake nodes")
	fs.IntVar(&c.Containers, "containers", 30, "containers per node (0 = node samples and logs only)")
	fs.DurationVar(&c.Interval, "interval", 10*time.Second, "sample and health interval of every node; also how often the summary is printed")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long; 0 = run until interrupted")
	fs.Float64Var(&c.LogRate, "log-rate", 1, "kernel log lines per second per node (0 = no logs)")
	fs.Float64Var(&c.MatchRate, "match-rate", 0.01, "fraction of log lines that a kernel-monitor.json rule matches (0 to 1)")
	fs.Float64Var(&c.UnhealthyRate, "unhealthy-rate", 0.01, "fraction of health reports that say unhealthy (0 to 1)")
	fs.Int64Var(&c.Seed, "seed", 0, "seed of the generator (same seed, same nodes, pods and ids); 0 = random, printed at start")
	fs.StringVar(&c.NodePrefix, "node-prefix", "sim-node-", "fake node names are this prefix and a number: sim-node-0001, ...")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "publishes in flight at once")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "give up when NATS cannot be reached for this long at start")
	c.Log.AddFlags(fs)
	// A command run from a terminal: text logs, and --help says so.
	c.Log.Format = "text"
	fs.Lookup("log-format").DefValue = "text"
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if err := subject.ValidatePrefix(c.Prefix); err != nil {
		return config.Invalid("subject-prefix", c.Prefix, "%v", err)
	}
	switch {
	case c.Nodes < 1 || c.Nodes > maxNodes:
		return config.Invalid("nodes", c.Nodes, "want 1 to %d", maxNodes)
	case c.Containers < 0 || c.Containers > maxContainers:
		return config.Invalid("containers", c.Containers, "want 0 to %d", maxContainers)
	case c.Interval < minInterval:
		return config.Invalid("interval", c.Interval, "want at least %s", minInterval)
	case c.Duration < 0:
		return config.Invalid("duration", c.Duration, "must not be negative (0 = until interrupted)")
	case !(c.LogRate >= 0 && c.LogRate <= maxLogRate): // !(>=) also rejects NaN
		return config.Invalid("log-rate", c.LogRate, "want 0 to %d lines per second", maxLogRate)
	case !(c.MatchRate >= 0 && c.MatchRate <= 1):
		return config.Invalid("match-rate", c.MatchRate, "want a fraction from 0 to 1")
	case !(c.UnhealthyRate >= 0 && c.UnhealthyRate <= 1):
		return config.Invalid("unhealthy-rate", c.UnhealthyRate, "want a fraction from 0 to 1")
	case c.Concurrency < 1 || c.Concurrency > 10_000:
		return config.Invalid("concurrency", c.Concurrency, "want 1 to 10000")
	case c.Timeout <= 0:
		return config.Invalid("timeout", c.Timeout, "must be positive")
	}
	if _, err := subject.Encode(nodeName(c.NodePrefix, 1, c.Nodes)); err != nil {
		return config.Invalid("node-prefix", c.NodePrefix, "node names must fit in a subject: %v", err)
	}
	return c.Log.Validate()
}

// nodeName is the i-th fake node's name (1-based), numbered with at least four digits.
func nodeName(prefix string, i, n int) string {
	width := max(4, len(fmt.Sprint(n)))
	return fmt.Sprintf("%s%0*d", prefix, width, i)
}

// Run connects, checks that the streams exist, and publishes until ctx ends or Duration passed.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	log := c.Log.New(os.Stderr)
	out := c.Stdout
	if out == nil {
		out = os.Stdout
	}
	seed := c.Seed
	if seed == 0 {
		seed = rand.Int64N(math.MaxInt64-1) + 1
	}
	log.Info("simulating", "nodes", c.Nodes, "containers", c.Containers, "interval", c.Interval, "seed", seed)

	nc, err := natsconn.Connect(c.NATS, "nodewarden-simulate", log, natsconn.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return err
	}
	// Every publish is synchronous and done when the loops return, so Close loses nothing.
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	for !nc.IsConnected() {
		select {
		case <-cctx.Done():
			if ctx.Err() != nil {
				return nil // interrupted before anything started
			}
			return fmt.Errorf("cannot reach NATS at %s within %s", c.NATS.URL, c.Timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Checked once, not retried as a service would: a load run against a server without the
	// streams is a mistake to report at once.
	needs := topology.Needs{Streams: []string{topology.StreamSamples, topology.StreamLogs}}
	if err := topology.Check(cctx, js, c.Prefix, needs); err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("check streams at %s: %w", c.NATS.URL, err)
	}
	s, err := newSim(c, seed, publish.New(js, prometheus.NewRegistry()), log)
	if err != nil {
		return err
	}
	s.run(ctx, out)
	return nil
}

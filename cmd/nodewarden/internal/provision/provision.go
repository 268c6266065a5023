// Package provision is `nodewarden provision`: it creates or updates nodewarden's streams and
// KV buckets with an admin connection and prints what it did. It is idempotent.
package provision

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Summary is the command's help text.
const Summary = "Creates the streams (SAMPLES, LOGS, EVENTS, REBOOT, DEAD) and KV buckets nodewarden uses, or\n" +
	"updates their limits. Safe to run again; an existing stream with incompatible settings is an error."

// Config is the command's configuration.
type Config struct {
	NATS     natsconn.Options
	Settings topology.Settings
	Log      daemon.LogOptions
	Timeout  time.Duration
	Stdout   io.Writer
}

// AddFlags registers the flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.NATS.AddFlags(fs)
	c.Settings.AddFlags(fs)
	fs.StringVar(&c.Settings.Prefix, "subject-prefix", subject.DefaultPrefix, "first token(s) of every nodewarden subject")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "give up when the server cannot be reached for this long")
	c.Log.AddFlags(fs)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	return c.Settings.Validate()
}

// Run provisions and prints a table of what it did.
func Run(ctx context.Context, c Config) error {
	log := c.Log.New(os.Stderr)
	results, err := Provision(ctx, c.NATS, c.Settings, c.Timeout, log)
	if err != nil {
		return err
	}
	if c.Stdout != nil {
		Print(c.Stdout, results)
	}
	return nil
}

// Provision connects with o and provisions s.
func Provision(ctx context.Context, o natsconn.Options, s topology.Settings, timeout time.Duration, log *slog.Logger) ([]topology.Result, error) {
	nc, err := natsconn.Connect(o, "nodewarden-provision", log, natsconn.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("provision: cannot reach NATS at %s: %w", o.URL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return topology.Provision(ctx, js, s, log)
}

// Print writes the results as a table.
func Print(w io.Writer, results []topology.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tACTION\tDETAIL")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Kind, r.Name, r.Action, r.Detail)
	}
	tw.Flush()
}

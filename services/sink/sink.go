// Package sink replaces Heapster's sinks and Telegraf's outputs: one durable consumer per
// output fans samples and events out to InfluxDB, a Prometheus exposition and Slack, acking
// only what its output accepted. This is its skeleton: it connects, checks what it uses,
// serves its endpoints and waits; the outputs are the sink issue's work.
package sink

import (
	"context"
	"flag"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Config is the sink's configuration.
type Config struct {
	daemon.Common
}

// AddFlags registers the sink's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) { c.Common.AddFlags(fs, ":9104") }

// Validate checks the configuration.
func (c *Config) Validate() error { return c.Common.Validate() }

// Needs are the streams and buckets the sink uses.
var Needs = topology.Needs{
	Streams: []string{topology.StreamSamples, topology.StreamEvents, topology.StreamDead},
	Buckets: []string{topology.BucketSlackSent},
}

// Run runs the sink until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rt, err := daemon.Start(ctx, "sink", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return rt.Wait(ctx)
}

// Package alerter turns problems into Alertmanager alerts that fire, are re-sent while active
// and resolve, and (in a cluster) into Kubernetes node conditions and events. This is its
// skeleton: it connects, checks what it uses, serves its endpoints and waits; alerting is the
// alerter issue's work.
package alerter

import (
	"context"
	"flag"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Config is the alerter's configuration.
type Config struct {
	daemon.Common
}

// AddFlags registers the alerter's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) { c.Common.AddFlags(fs, ":9105") }

// Validate checks the configuration.
func (c *Config) Validate() error { return c.Common.Validate() }

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
	rt, err := daemon.Start(ctx, "alerter", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return rt.Wait(ctx)
}

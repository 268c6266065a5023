// Package collector is the per-node DaemonSet that replaces cAdvisor's collection, Node Problem
// Detector's log watchers and health checkers, and kured's sentinel check: it observes its node
// and publishes samples, log batches, health reports and reboot requests. It decides nothing.
// This is its skeleton: it connects, checks the streams it publishes to, serves its endpoints
// and waits; collection is the collector issue's work.
package collector

import (
	"context"
	"flag"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Config is the collector's configuration.
type Config struct {
	daemon.Common
	Node string
}

// AddFlags registers the collector's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, ":9101")
	daemon.AddNodeFlag(fs, &c.Node)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := daemon.ValidateNode(c.Node); err != nil {
		return err
	}
	return c.Common.Validate()
}

// Needs are the streams the collector publishes to.
var Needs = topology.Needs{Streams: []string{topology.StreamSamples, topology.StreamLogs, topology.StreamReboot}}

// Run runs the collector until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rt, err := daemon.Start(ctx, "collector", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	rt.Log.Info("collecting", "node", cfg.Node)
	return rt.Wait(ctx)
}

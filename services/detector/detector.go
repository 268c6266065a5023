// Package detector replaces Node Problem Detector's problem daemons: it consumes log batches
// and health reports, evaluates NPD's rule files and our health rules, and publishes problems
// and condition changes, keeping condition state in NW_CONDITIONS. This is its skeleton: it
// connects, checks what it uses, serves its endpoints and waits; detection is the detector
// issue's work.
package detector

import (
	"context"
	"flag"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Config is the detector's configuration.
type Config struct {
	daemon.Common
}

// AddFlags registers the detector's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) { c.Common.AddFlags(fs, ":9102") }

// Validate checks the configuration.
func (c *Config) Validate() error { return c.Common.Validate() }

// Needs are the streams and buckets the detector uses.
var Needs = topology.Needs{
	Streams: []string{topology.StreamLogs, topology.StreamSamples, topology.StreamEvents, topology.StreamReboot, topology.StreamDead},
	Buckets: []string{topology.BucketConditions, topology.BucketDetectorPartitions},
}

// Run runs the detector until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rt, err := daemon.Start(ctx, "detector", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return rt.Wait(ctx)
}

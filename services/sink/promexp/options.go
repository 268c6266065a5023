package promexp

import (
	"flag"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// DefaultSampleInterval is the collectors' default sampling interval (the collector's --interval).
const DefaultSampleInterval = 10 * time.Second

// staleIntervals is how many sample intervals a series may miss before it disappears: enough to
// ride out a redelivery or a slow collector, few enough that a gone node leaves within a minute.
const staleIntervals = 5

// Options configure the Prometheus output.
type Options struct {
	// StaleAfter is how long a node's or container's series stay exposed without a new sample;
	// 0 means 5 × SampleInterval.
	StaleAfter time.Duration
	// SampleInterval is the collectors' sampling interval, the unit of the default StaleAfter.
	SampleInterval time.Duration
}

// AddFlags registers --stale-after and --sample-interval.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.StaleAfter, "stale-after", 0,
		"drop the Prometheus series of a node or container not sampled for this long (0 = 5 × --sample-interval)")
	fs.DurationVar(&o.SampleInterval, "sample-interval", DefaultSampleInterval,
		"the collectors' sampling interval (their --interval)")
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.SampleInterval <= 0 {
		return config.Invalid("sample-interval", o.SampleInterval, "must be positive")
	}
	if o.StaleAfter < 0 {
		return config.Invalid("stale-after", o.StaleAfter, "must not be negative (0 = 5 × --sample-interval)")
	}
	if o.StaleAfter != 0 && o.StaleAfter < o.SampleInterval {
		return config.Invalid("stale-after", o.StaleAfter,
			"shorter than --sample-interval %s: every series would flap between samples", o.SampleInterval)
	}
	return nil
}

// Staleness is the effective StaleAfter.
func (o Options) Staleness() time.Duration {
	if o.StaleAfter > 0 {
		return o.StaleAfter
	}
	iv := o.SampleInterval
	if iv <= 0 {
		iv = DefaultSampleInterval
	}
	return staleIntervals * iv
}

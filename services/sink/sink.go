// Package sink replaces Heapster's sinks and Telegraf's outputs: it fans samples and events out
// to InfluxDB, a Prometheus exposition and Slack. The durable outputs (InfluxDB, Slack) each
// run their own durable consumers, so a slow or broken one never holds the others back, and ack
// a message only after their output accepted it. The Prometheus output keeps the latest value
// of every series of the nodes in the partitions this replica holds (leases in
// NW_SINK_PARTITIONS, the detector's partitioning), so Prometheus scrapes every replica and
// sees each series once.
package sink

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/lease"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/sink/influx"
	"github.com/nodewarden/nodewarden/services/sink/promexp"
	"github.com/nodewarden/nodewarden/services/sink/slack"
)

// Config is the sink's configuration.
type Config struct {
	daemon.Common
	Influx influx.Options
	Prom   promexp.Options
	Slack  slack.Options
	// Prometheus turns the Prometheus output on (--prometheus-output).
	Prometheus bool
	ReplicaID  string
	LeaseTTL   time.Duration
}

// AddFlags registers the sink's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, ":9104")
	c.Influx = influx.DefaultOptions()
	c.Influx.AddFlags(fs)
	c.Prom.AddFlags(fs)
	c.Slack = slack.DefaultOptions()
	c.Slack.AddFlags(fs)
	fs.BoolVar(&c.Prometheus, "prometheus-output", true, "expose the latest samples, problems and conditions on /metrics with cAdvisor's and node_exporter's names")
	fs.StringVar(&c.ReplicaID, "replica-id", defaultReplicaID(), "this replica's unique name among the sinks (default: host name and process id)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", 15*time.Second, "how long a partition lease lasts unrenewed: a replica that dies loses its nodes' series after it")
}

func defaultReplicaID() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "sink"
	}
	id, err := subject.Encode(h + "-" + strconv.Itoa(os.Getpid()))
	if err != nil {
		return "sink-" + strconv.Itoa(os.Getpid())
	}
	return id
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.Influx.Validate(); err != nil {
		return err
	}
	if err := c.Prom.Validate(); err != nil {
		return err
	}
	if err := c.Slack.Validate(); err != nil {
		return err
	}
	if c.Prometheus {
		if _, err := subject.Encode(c.ReplicaID); err != nil || c.ReplicaID == "" {
			return config.Invalid("replica-id", c.ReplicaID, "not usable as a key token: %v", err)
		}
		if c.LeaseTTL < time.Second {
			return config.Invalid("lease-ttl", c.LeaseTTL, "must be at least 1s")
		}
	}
	return c.Common.Validate()
}

// Needs are the streams and buckets the sink uses.
var Needs = topology.Needs{
	Streams: []string{topology.StreamSamples, topology.StreamEvents, topology.StreamDead, topology.StreamDetect},
	Buckets: []string{topology.BucketSlackSent, topology.BucketSinkPartitions, topology.BucketConditions},
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
	var (
		wg        sync.WaitGroup
		consumers []consume.Config
	)
	if cfg.Influx.Enabled() {
		out, err := influx.New(cfg.Influx, rt.Log, rt.Registry)
		if err != nil {
			rt.Close()
			return err
		}
		defer out.Close()
		consumers = append(consumers, out.Consumers(rt.Subjects)...)
	}
	if cfg.Slack.Enabled() {
		sent, err := rt.JS.KeyValue(ctx, topology.BucketSlackSent)
		if err != nil {
			rt.Close()
			return fmt.Errorf("open bucket %s: %w", topology.BucketSlackSent, err)
		}
		out, err := slack.New(cfg.Slack, sent, rt.Log, rt.Registry)
		if err != nil {
			rt.Close()
			return err
		}
		consumers = append(consumers, out.Consumers(rt.Subjects)...)
	}
	for _, cc := range consumers {
		c, err := consume.New(rt.JS, rt.Publisher, cc, rt.Log.With("consumer", cc.Durable), rt.Consume)
		if err != nil {
			rt.Close()
			return fmt.Errorf("consumer %s: %w", cc.Durable, err)
		}
		wg.Go(func() { _ = c.Run(ctx) })
	}
	if cfg.Prometheus {
		if err := startProm(ctx, cfg, rt, &wg); err != nil {
			rt.Close()
			return err
		}
	}
	rt.Log.Info("sinking", "influx", cfg.Influx.String(), "slack", cfg.Slack.String(), "prometheus", cfg.Prometheus, "consumers", len(consumers))
	<-ctx.Done()
	wg.Wait()
	rt.Close()
	return nil
}

// startProm registers the store on /metrics and starts the partition leases and the feed.
func startProm(ctx context.Context, cfg Config, rt *daemon.Runtime, wg *sync.WaitGroup) error {
	p, err := topology.Partitions(ctx, rt.JS)
	if err != nil {
		return err
	}
	conds, err := conditions.Open(ctx, rt.JS, topology.BucketConditions)
	if err != nil {
		return err
	}
	kv, err := rt.JS.KeyValue(ctx, topology.BucketSinkPartitions)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", topology.BucketSinkPartitions, err)
	}
	leases, err := lease.New(kv, lease.Options{ID: cfg.ReplicaID, Partitions: p, TTL: cfg.LeaseTTL, Logger: rt.Log})
	if err != nil {
		return err
	}
	store := promexp.NewStore(cfg.Prom, nil)
	rt.Registry.MustRegister(store)
	feed := newPromFeed(rt.JS, rt.Subjects, store, conds, p, rt.Log, rt.Registry)
	wg.Go(func() { feed.run(ctx) })
	wg.Go(func() { _ = leases.Run(ctx, feed.hold) })
	return nil
}

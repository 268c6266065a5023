// Package detector replaces Node Problem Detector's problem daemons. It consumes DETECT (the
// collector's log batches, health reports and node samples, partitioned by node), evaluates
// NPD's rule files unchanged and nodewarden's health and threshold rules, and publishes problems
// and condition changes within a second, keeping condition state in NW_CONDITIONS. Replicas
// share the partitions through leases (package lease); each partition is one durable consumer
// evaluated in order by one engine (package engine).
package detector

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/lease"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/detector/counter"
	"github.com/nodewarden/nodewarden/services/detector/engine"
	"github.com/nodewarden/nodewarden/services/detector/healthrules"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// Config is the detector's configuration.
type Config struct {
	daemon.Common
	Rules       config.StringList
	HealthRules string
	ReplicaID   string
	LeaseTTL    time.Duration
}

// AddFlags registers the detector's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, ":9102")
	fs.Var(&c.Rules, "rules", "NPD system-log-monitor or log-counter rule file (repeatable); default: NPD's kernel-monitor.json (built in)")
	fs.StringVar(&c.HealthRules, "health-rules", "", "health and threshold rules file (YAML); default: the built-in rules; \"none\" for none")
	fs.StringVar(&c.ReplicaID, "replica-id", defaultReplicaID(), "this replica's unique name among the detectors (default: host name and process id)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", 15*time.Second, "how long a partition lease lasts unrenewed: a replica that dies loses its partitions after it")
}

func defaultReplicaID() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "detector"
	}
	return h + "-" + strconv.Itoa(os.Getpid())
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := subject.Encode(c.ReplicaID); err != nil || c.ReplicaID == "" {
		return config.Invalid("replica-id", c.ReplicaID, "not usable as a key token: %v", err)
	}
	if c.LeaseTTL < time.Second {
		return config.Invalid("lease-ttl", c.LeaseTTL, "must be at least 1s")
	}
	return c.Common.Validate()
}

// Needs are the streams and buckets the detector uses.
var Needs = topology.Needs{
	Streams: []string{topology.StreamDetect, topology.StreamEvents, topology.StreamReboot, topology.StreamDead},
	Buckets: []string{topology.BucketConditions, topology.BucketDetectorPartitions},
}

//go:embed rules/kernel-monitor.json
var defaultRules []byte

// LoadRules loads the rule files of a configuration; errors are configuration errors naming the
// file, field and value.
func (c *Config) LoadRules() (*engine.Rules, error) {
	var mons []*npdconfig.Monitor
	if len(c.Rules) == 0 {
		m, err := npdconfig.Parse("(built in) kernel-monitor.json", defaultRules)
		if err != nil {
			return nil, err
		}
		mons = []*npdconfig.Monitor{m}
	}
	r := &engine.Rules{Monitors: map[string]*engine.Monitor{}}
	if len(c.Rules) > 0 {
		// NPD's log-counter files are custom-plugin files; everything else is a log monitor.
		var logFiles []string
		for _, path := range c.Rules {
			if isCustomPlugin(path) {
				f, err := counter.Load(path)
				if err != nil {
					return nil, err
				}
				r.Counters = append(r.Counters, f)
				continue
			}
			logFiles = append(logFiles, path)
		}
		var err error
		if mons, err = npdconfig.LoadAll(logFiles); err != nil {
			return nil, err
		}
	}
	for _, m := range mons {
		set, err := matcher.Compile(m)
		if err != nil {
			return nil, config.Invalid("rules", m.Path, "%v", err)
		}
		r.Monitors[m.Source] = &engine.Monitor{File: m, Set: set}
	}
	switch c.HealthRules {
	case "none":
	case "":
		r.Health = healthrules.Default()
	default:
		h, err := healthrules.Load(c.HealthRules)
		if err != nil {
			return nil, err
		}
		r.Health = h
	}
	return r, nil
}

// Run runs the detector until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rules, err := cfg.LoadRules()
	if err != nil {
		return err
	}
	rt, err := daemon.Start(ctx, "detector", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer rt.Close()
	p, err := topology.Partitions(ctx, rt.JS)
	if err != nil {
		return err
	}
	store, err := conditions.Open(ctx, rt.JS, topology.BucketConditions)
	if err != nil {
		return err
	}
	kv, err := rt.JS.KeyValue(ctx, topology.BucketDetectorPartitions)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", topology.BucketDetectorPartitions, err)
	}
	leases, err := lease.New(kv, lease.Options{ID: cfg.ReplicaID, Partitions: p, TTL: cfg.LeaseTTL, Logger: rt.Log})
	if err != nil {
		return err
	}
	rt.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nodewarden_detector_partitions_held",
		Help: "Partitions this replica holds."}, func() float64 { return float64(len(leases.Held())) }))
	w := &worker{rt: rt, rules: rules, store: store, m: engine.NewMetrics(rt.Registry), prefix: cfg.Prefix}
	rt.Log.Info("detecting", "replica", cfg.ReplicaID, "partitions", p, "rule_files", len(rules.Monitors), "counter_files", len(rules.Counters))
	return leases.Run(ctx, w.run)
}

// isCustomPlugin peeks at a rule file's plugin; a file that cannot be read or parsed is left to
// the log-monitor loader, whose errors name what is wrong.
func isCustomPlugin(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var top struct {
		Plugin string `json:"plugin"`
	}
	return json.Unmarshal(b, &top) == nil && top.Plugin == counter.Plugin
}

// Package lockcmd is `nodewarden lock status` and `nodewarden lock release <node> --force`: the
// operator's view of the rebooters' lock in NW_REBOOT_LOCK (which node holds which slot, for
// which request, since and until when), and the way out when a holder will never release it.
package lockcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
)

// StatusSummary and ReleaseSummary are the commands' help texts.
const (
	StatusSummary  = "Shows who holds the reboot lock: slot, node, request, since, until."
	ReleaseSummary = "Releases the reboot lock slot a node holds. Usage: nodewarden lock release --force <node>"
)

// Config is both commands' configuration.
type Config struct {
	NATS    natsconn.Options
	Force   bool
	Timeout time.Duration
	Log     daemon.LogOptions
	Stdout  io.Writer
	Args    []string
	Now     func() time.Time
}

// AddFlags registers the flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.NATS.AddFlags(fs)
	fs.BoolVar(&c.Force, "force", false, "release: required, since the holder may be mid-reboot")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "give up when NATS does not answer within this time")
	c.Log.AddFlags(fs)
	c.Log.Format = "text"
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		return config.Invalid("timeout", c.Timeout, "must be positive")
	}
	return c.Log.Validate()
}

// SplitArgs moves positional arguments out of args into cfg.Args.
func SplitArgs(args []string, cfg *Config) []string {
	flags, pos := config.SplitPositional(args, "force")
	cfg.Args = pos
	return flags
}

func bucket(ctx context.Context, c Config) (jetstream.KeyValue, func(), error) {
	nc, err := natsconn.Connect(c.NATS, "nodewarden-lock", c.Log.New(io.Discard), natsconn.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	kv, err := js.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open bucket %s: %w (is NATS at %s reachable and provisioned?)", topology.BucketRebootLock, err, c.NATS.URL)
	}
	return kv, nc.Close, nil
}

// Status prints the holders.
func Status(ctx context.Context, c Config) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	kv, closeConn, err := bucket(ctx, c)
	if err != nil {
		return err
	}
	defer closeConn()
	hs, err := lock.Holders(ctx, kv)
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		fmt.Fprintln(c.Stdout, "the reboot lock is free")
		return nil
	}
	now := c.Now()
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tNODE\tREQUEST\tSINCE\tUNTIL")
	for _, h := range hs {
		until := "never expires"
		switch {
		case h.Invalid:
			until = "unreadable value: held until released"
		case !h.Until.IsZero() && h.Expired(now):
			until = h.Until.UTC().Format(time.RFC3339) + " (expired)"
		case !h.Until.IsZero():
			until = h.Until.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", h.Slot, h.Node, h.RequestID, h.Since.UTC().Format(time.RFC3339), until)
	}
	return tw.Flush()
}

// Release frees the slot a node holds.
func Release(ctx context.Context, c Config) error {
	if len(c.Args) != 1 {
		return &config.Error{Reason: fmt.Sprintf("want one <node>, got %d arguments", len(c.Args))}
	}
	if !c.Force {
		return config.Invalid("force", false, "releasing another node's lock needs --force: it may be mid-reboot")
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	kv, closeConn, err := bucket(ctx, c)
	if err != nil {
		return err
	}
	defer closeConn()
	ok, err := lock.ForceRelease(ctx, kv, c.Args[0])
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintf(c.Stdout, "%s holds no lock slot\n", c.Args[0])
		return nil
	}
	fmt.Fprintf(c.Stdout, "released the lock slot of %s\n", c.Args[0])
	return nil
}

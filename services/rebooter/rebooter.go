// Package rebooter is the per-node DaemonSet that replaces kured: it acts on RebootRequired for
// its own node, under a distributed lock in NW_REBOOT_LOCK, never while a non-ignored alert
// fires, inside reboot windows, with cordon and drain before and uncordon after. This is its
// skeleton: it connects, checks what it uses, serves its endpoints and waits; rebooting is the
// rebooter issue's work.
package rebooter

import (
	"context"
	"flag"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Reboot methods.
const (
	MethodCommand = "command" // run --reboot-command (kured's default)
	MethodSignal  = "signal"  // send --reboot-signal to PID 1 (kured's signal method)
	MethodLog     = "log"     // only log and publish what would be done (nodewarden run's default)
)

// Config is the rebooter's configuration.
type Config struct {
	daemon.Common
	Node          string
	RebootMethod  string
	RebootCommand string
	RebootSignal  int
}

// AddFlags registers the rebooter's flags; names follow kured's.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, ":9103")
	daemon.AddNodeFlag(fs, &c.Node)
	fs.StringVar(&c.RebootMethod, "reboot-method", MethodCommand, "how to reboot: command, signal, or log (log only says what it would do)")
	fs.StringVar(&c.RebootCommand, "reboot-command", "/bin/systemctl reboot", "command run for --reboot-method=command")
	fs.IntVar(&c.RebootSignal, "reboot-signal", 39, "signal sent to PID 1 for --reboot-method=signal (39 = SIGRTMIN+5, systemd's reboot)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := daemon.ValidateNode(c.Node); err != nil {
		return err
	}
	if err := config.OneOf("reboot-method", c.RebootMethod, MethodCommand, MethodSignal, MethodLog); err != nil {
		return err
	}
	if c.RebootMethod == MethodCommand && c.RebootCommand == "" {
		return config.Invalid("reboot-command", c.RebootCommand, "must not be empty with --reboot-method=command")
	}
	if c.RebootSignal < 1 || c.RebootSignal > 64 {
		return config.Invalid("reboot-signal", c.RebootSignal, "want a signal number from 1 to 64")
	}
	return c.Common.Validate()
}

// Needs are the streams and buckets the rebooter uses.
var Needs = topology.Needs{
	Streams: []string{topology.StreamReboot, topology.StreamEvents, topology.StreamDead},
	Buckets: []string{topology.BucketRebootLock, topology.BucketRebootRequests},
}

// Run runs the rebooter until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rt, err := daemon.Start(ctx, "rebooter", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	rt.Log.Info("watching for reboot requests", "node", cfg.Node, "reboot_method", cfg.RebootMethod)
	return rt.Wait(ctx)
}

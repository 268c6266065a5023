// Package rebooter is the per-node DaemonSet that replaces kured: it acts on RebootRequired for
// its own node the moment it arrives, records it in NW_REBOOT_REQUESTS and acks it, then works
// from the record — reboot window, blocking pods, alerts, the distributed lock in NW_REBOOT_LOCK,
// alerts again, cordon and drain, reboot — and, once the node is back with a new boot id,
// uncordons it and releases the lock. Every step is published as RebootStatus. Flag names are
// kured's.
package rebooter

import (
	"flag"
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter/alerts"
	"github.com/nodewarden/nodewarden/services/rebooter/drain"
	"github.com/nodewarden/nodewarden/services/rebooter/reboot"
	"github.com/nodewarden/nodewarden/services/rebooter/window"
)

// Reboot methods.
const (
	MethodCommand = "command" // run --reboot-command (kured's default)
	MethodSignal  = "signal"  // send --reboot-signal to PID 1 (kured's signal method)
	MethodLog     = "log"     // only log and publish what would be done (nodewarden run's default)
)

// Summary is the rebooter's --help text: what it does, and where kured's flags went.
const Summary = `nodewarden rebooter: reboots its node safely when asked — reboot window, blocking pods,
alert filter, distributed lock, cordon and drain, reboot, uncordon — acting on RebootRequired
the moment it arrives rather than polling. Flag names are kured's.

kured flags handled elsewhere or not supported:
  --reboot-sentinel, --reboot-sentinel-command  the collector's (it publishes RebootRequired)
  --notify-url, --slack-hook-url, --slack-channel, --slack-username, --message-template-*
                                                the sink's Slack output, fed by RebootStatus
  --lock-annotation, --ds-name, --ds-namespace  not supported: the lock lives in the
                                                NW_REBOOT_LOCK KV bucket, not on the DaemonSet
  --metrics-host, --metrics-port                use --http-listen (/metrics, /healthz, /readyz)
  --log-format                                  use --log-format text|json (same name, slog)`

// Config is the rebooter's configuration.
type Config struct {
	daemon.Common
	Node string

	Period           time.Duration
	Concurrency      int
	LockTTL          time.Duration
	LockReleaseDelay time.Duration

	Kubeconfig               string
	DrainTimeout             time.Duration
	DrainGracePeriod         int
	DrainDelay               time.Duration
	DrainPodSelector         string
	SkipWaitForDeleteTimeout int
	ForceReboot              bool
	PreferNoScheduleTaint    string
	AnnotateNodes            bool
	PreRebootNodeLabels      config.StringList
	PostRebootNodeLabels     config.StringList
	BlockingPodSelectors     config.StringList

	Window window.Flags
	Alerts alerts.Options

	RebootMethod  string
	RebootCommand string
	RebootSignal  int
	RebootDelay   time.Duration
	HostPIDNs     bool
	BootIDFile    string

	// Set by tests and embedders; no flag reaches them.
	Kube     kubernetes.Interface // replaces --kubeconfig / in-cluster discovery
	BootID   reboot.BootIDSource  // replaces --boot-id-file
	Rebooter reboot.Rebooter      // replaces --reboot-method and its options
	Now      func() time.Time
}

// AddFlags registers the rebooter's flags; names follow kured's.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, ":9103")
	daemon.AddNodeFlag(fs, &c.Node)
	fs.StringVar(&c.Node, "node-id", c.Node, "kured's name for --node")

	fs.DurationVar(&c.Period, "period", time.Minute, "how often a blocked reboot checks again (window, pods, alerts); requests themselves are acted on when they arrive")
	fs.IntVar(&c.Concurrency, "concurrency", 1, "how many nodes may reboot at once")
	fs.DurationVar(&c.LockTTL, "lock-ttl", 0, "a lock holder that does not come back within this time loses the lock (0 = never, as kured)")
	fs.DurationVar(&c.LockReleaseDelay, "lock-release-delay", 0, "wait this long after the node is back before releasing the lock")

	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty uses the in-cluster service account when there is one, else runs without Kubernetes (no cordon or drain)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 0, "give up draining after this long (0 = wait for ever, as kured)")
	fs.IntVar(&c.DrainGracePeriod, "drain-grace-period", -1, "seconds each evicted pod gets to stop; negative uses the pod's own terminationGracePeriodSeconds")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "wait this long after cordoning before draining")
	fs.StringVar(&c.DrainPodSelector, "drain-pod-selector", "", "only drain pods matching this label selector (empty drains all)")
	fs.IntVar(&c.SkipWaitForDeleteTimeout, "skip-wait-for-delete-timeout", 0, "stop waiting for pods deleted longer ago than this many seconds (0 always waits)")
	fs.BoolVar(&c.ForceReboot, "force-reboot", false, "reboot even when the drain fails (otherwise uncordon, release the lock and retry after --period)")
	fs.StringVar(&c.PreferNoScheduleTaint, "prefer-no-schedule-taint", "", "PreferNoSchedule taint put on the node while it waits for the lock, e.g. nodewarden.io/reboot (empty: none, as kured)")
	fs.BoolVar(&c.AnnotateNodes, "annotate-nodes", false, "annotate the node with when a reboot was needed and when it began (as kured, under nodewarden.io/)")
	fs.Var(&c.PreRebootNodeLabels, "pre-reboot-node-labels", "key=value labels set on the node before the reboot (repeatable)")
	fs.Var(&c.PostRebootNodeLabels, "post-reboot-node-labels", "key=value labels set on the node after the reboot (repeatable)")
	fs.Var(&c.BlockingPodSelectors, "blocking-pod-selector", "label selector of pods that block the reboot while they run on the node (repeatable)")

	c.Window.AddFlags(fs)
	c.Alerts.AddFlags(fs)

	fs.StringVar(&c.RebootMethod, "reboot-method", MethodCommand, "how to reboot: command, signal, or log (log only says what it would do)")
	fs.StringVar(&c.RebootCommand, "reboot-command", "/bin/systemctl reboot", "command run for --reboot-method=command, split into words without a shell")
	fs.IntVar(&c.RebootSignal, "reboot-signal", reboot.DefaultSignal, "signal sent to PID 1 for --reboot-method=signal (39 = SIGRTMIN+5, systemd's reboot)")
	fs.DurationVar(&c.RebootDelay, "reboot-delay", 0, "wait this long after draining before rebooting")
	fs.BoolVar(&c.HostPIDNs, "host-pid-ns", false, "run --reboot-command in the host's mount namespace through nsenter (the DaemonSet runs with hostPID)")
	fs.StringVar(&c.BootIDFile, "boot-id-file", reboot.BootIDPath, "where the node's boot id is read; a new one proves the reboot happened")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := daemon.ValidateNode(c.Node); err != nil {
		return err
	}
	if err := config.OneOf("reboot-method", c.RebootMethod, MethodCommand, MethodSignal, MethodLog); err != nil {
		return err
	}
	if c.RebootMethod == MethodCommand {
		if _, err := reboot.SplitCommand(c.RebootCommand); err != nil {
			return config.Invalid("reboot-command", c.RebootCommand, "%v", err)
		}
	}
	if c.RebootSignal < 1 || c.RebootSignal > 64 {
		return config.Invalid("reboot-signal", c.RebootSignal, "want a signal number from 1 to 64")
	}
	switch {
	case c.Period <= 0:
		return config.Invalid("period", c.Period, "must be positive")
	case c.Concurrency < 1:
		return config.Invalid("concurrency", c.Concurrency, "want at least 1")
	case c.LockTTL < 0:
		return config.Invalid("lock-ttl", c.LockTTL, "must not be negative (0 means never expires)")
	case c.LockReleaseDelay < 0:
		return config.Invalid("lock-release-delay", c.LockReleaseDelay, "must not be negative")
	case c.DrainTimeout < 0:
		return config.Invalid("drain-timeout", c.DrainTimeout, "must not be negative (0 means no timeout)")
	case c.DrainDelay < 0:
		return config.Invalid("drain-delay", c.DrainDelay, "must not be negative")
	case c.SkipWaitForDeleteTimeout < 0:
		return config.Invalid("skip-wait-for-delete-timeout", c.SkipWaitForDeleteTimeout, "must not be negative")
	case c.RebootDelay < 0:
		return config.Invalid("reboot-delay", c.RebootDelay, "must not be negative")
	case c.BootIDFile == "" && c.BootID == nil:
		return config.Invalid("boot-id-file", c.BootIDFile, "must not be empty")
	}
	if _, err := c.Window.Window(); err != nil {
		return config.Invalid("reboot-days", c.Window.Days.String(), "%v (with --start-time %q, --end-time %q, --time-zone %q)", err, c.Window.Start, c.Window.End, c.Window.TimeZone)
	}
	if err := c.Alerts.Validate(); err != nil {
		return err
	}
	for _, l := range []struct {
		flag string
		v    config.StringList
	}{{"pre-reboot-node-labels", c.PreRebootNodeLabels}, {"post-reboot-node-labels", c.PostRebootNodeLabels}} {
		if _, err := drain.ParseLabels(l.v); err != nil {
			return config.Invalid(l.flag, l.v.String(), "%v", err)
		}
	}
	// A bad selector or taint key must stop start-up, not the first drain hours later.
	if _, err := drain.New(nil, c.Node, c.drainOptions(nil)); err != nil {
		return config.Invalid("drain-pod-selector", c.DrainPodSelector+" / --prefer-no-schedule-taint "+c.PreferNoScheduleTaint, "%v", err)
	}
	return c.Common.Validate()
}

func (c *Config) drainOptions(log *slog.Logger) drain.Options {
	return drain.Options{
		Timeout:                         c.DrainTimeout,
		GracePeriodSeconds:              c.DrainGracePeriod,
		SkipWaitForDeleteTimeoutSeconds: c.SkipWaitForDeleteTimeout,
		PodSelector:                     c.DrainPodSelector,
		Force:                           true, // kured deletes unmanaged pods too
		TaintKey:                        c.PreferNoScheduleTaint,
		Logger:                          log,
	}
}

// Needs are the streams and buckets the rebooter uses.
var Needs = topology.Needs{
	Streams: []string{topology.StreamReboot, topology.StreamEvents, topology.StreamDead},
	Buckets: []string{topology.BucketRebootLock, topology.BucketRebootRequests},
}

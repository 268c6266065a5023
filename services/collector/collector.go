// Package collector is the per-node DaemonSet that replaces cAdvisor's collection, Node Problem
// Detector's log watchers and health checkers, and kured's sentinel check: it observes its node
// and publishes samples, log batches, health reports and reboot requests. It decides nothing.
// Every loop (samples, each log monitor, health checks, the sentinel) publishes through one
// bounded outbox, so an unreachable NATS never blocks collection: samples are dropped oldest
// first when it is full, log batches wait, reboot requests are never dropped.
package collector

import (
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/shlex"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Config is the collector's configuration.
type Config struct {
	daemon.Common
	Node string

	HostRoot string        // where the host's / is mounted
	StateDir string        // log positions and the sentinel's boot id
	Interval time.Duration // node and container samples
	Mounts   string        // comma-separated mount points sampled

	CgroupRoot    string
	CgroupVersion int
	CRISocket     string
	CRITimeout    time.Duration

	LogMonitors config.StringList

	HealthInterval    time.Duration
	HealthTimeout     time.Duration
	KubeletHealthzURL string
	DockerSocket      string
	SystemdUnits      config.StringList

	RebootSentinel        string
	RebootSentinelCommand string
	HostPIDNs             bool
	Period                time.Duration

	BufferSize int
}

// AddFlags registers the collector's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, ":9101")
	daemon.AddNodeFlag(fs, &c.Node)
	fs.StringVar(&c.HostRoot, "host-root", "/", "where the host's root file system is mounted; /proc, /sys/fs/cgroup, /dev/kmsg, log files and the sentinel are read under it")
	fs.StringVar(&c.StateDir, "state-dir", "/var/lib/nodewarden/collector", "directory for the log watchers' positions and the sentinel's state (kept across restarts)")
	fs.DurationVar(&c.Interval, "interval", 10*time.Second, "how often node and container samples are taken")
	fs.StringVar(&c.Mounts, "mounts", "/", "comma-separated mount points (host paths) whose space and inodes are sampled")
	fs.StringVar(&c.CgroupRoot, "cgroup-root", "/", "kubelet's --cgroup-root: the cgroup holding kubepods")
	fs.IntVar(&c.CgroupVersion, "cgroup-version", 0, "cgroup version to read, 1 or 2; 0 detects it")
	fs.StringVar(&c.CRISocket, "cri-socket", "/run/containerd/containerd.sock", "container runtime's CRI socket, for container names and runtime health (containerd, CRI-O); empty disables")
	fs.DurationVar(&c.CRITimeout, "cri-timeout", 2*time.Second, "timeout of each CRI call")
	fs.Var(&c.LogMonitors, "log-monitor", "NPD system-log-monitor JSON file whose log is watched (repeatable); default: NPD's kernel-monitor.json (built in); \"none\" watches no log")
	fs.DurationVar(&c.HealthInterval, "health-interval", 10*time.Second, "how often runtime health is checked")
	fs.DurationVar(&c.HealthTimeout, "health-timeout", 5*time.Second, "timeout of each health check")
	fs.StringVar(&c.KubeletHealthzURL, "kubelet-healthz-url", "http://127.0.0.1:10248/healthz", "kubelet's healthz endpoint; empty disables the check")
	fs.StringVar(&c.DockerSocket, "docker-socket", "", "docker's socket, checked with /_ping; empty disables")
	fs.Var(&c.SystemdUnits, "systemd-unit", "systemd unit whose state is checked (repeatable), e.g. kubelet.service")
	fs.StringVar(&c.RebootSentinel, "reboot-sentinel", "/var/run/reboot-required", "file (host path) whose existence means the node needs a reboot; empty disables")
	fs.StringVar(&c.RebootSentinelCommand, "reboot-sentinel-command", "", "command whose exit status 0 means the node needs a reboot; used instead of --reboot-sentinel when set")
	fs.BoolVar(&c.HostPIDNs, "host-pid-ns", false, "run --reboot-sentinel-command in the host's mount namespace through nsenter (needs hostPID)")
	fs.DurationVar(&c.Period, "period", time.Minute, "how often the reboot sentinel is checked (kured's --period, 1h there)")
	fs.IntVar(&c.BufferSize, "buffer-size", 10000, "messages held while NATS is unreachable; the oldest samples are dropped first when full")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := daemon.ValidateNode(c.Node); err != nil {
		return err
	}
	if fi, err := os.Stat(c.HostRoot); err != nil || !fi.IsDir() {
		return config.Invalid("host-root", c.HostRoot, "not a directory")
	}
	for name, d := range map[string]time.Duration{"interval": c.Interval, "cri-timeout": c.CRITimeout,
		"health-interval": c.HealthInterval, "health-timeout": c.HealthTimeout, "period": c.Period} {
		if d <= 0 {
			return config.Invalid(name, d, "must be positive")
		}
	}
	for _, m := range c.mountList() {
		if !filepath.IsAbs(m) {
			return config.Invalid("mounts", c.Mounts, "mount point %q is not an absolute path", m)
		}
	}
	if c.CgroupVersion != 0 && c.CgroupVersion != 1 && c.CgroupVersion != 2 {
		return config.Invalid("cgroup-version", c.CgroupVersion, "want 0 (detect), 1 or 2")
	}
	if c.KubeletHealthzURL != "" {
		if u, err := url.Parse(c.KubeletHealthzURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return config.Invalid("kubelet-healthz-url", c.KubeletHealthzURL, "want an http or https URL")
		}
	}
	if _, err := c.sentinelCommand(); err != nil {
		return err
	}
	if c.BufferSize < 1 {
		return config.Invalid("buffer-size", c.BufferSize, "must be at least 1")
	}
	return c.Common.Validate()
}

func (c *Config) mountList() []string {
	var out []string
	for _, m := range strings.Split(c.Mounts, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// sentinelCommand splits --reboot-sentinel-command as a shell would (kured does the same).
func (c *Config) sentinelCommand() ([]string, error) {
	if strings.TrimSpace(c.RebootSentinelCommand) == "" {
		return nil, nil
	}
	argv, err := shlex.Split(c.RebootSentinelCommand)
	if err != nil || len(argv) == 0 {
		return nil, config.Invalid("reboot-sentinel-command", c.RebootSentinelCommand, "not a command line: %v", err)
	}
	return argv, nil
}

// Needs are the streams the collector publishes to.
var Needs = topology.Needs{Streams: []string{topology.StreamSamples, topology.StreamLogs, topology.StreamReboot}}

// criComponent names the runtime behind a CRI socket for health reports: containerd.sock →
// "containerd", crio.sock → "crio".
func criComponent(socket string) string {
	base := strings.TrimSuffix(filepath.Base(strings.TrimPrefix(socket, "unix://")), ".sock")
	if base == "" || base == "." || base == "/" {
		return "cri"
	}
	return base
}

package collector_test

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/collector"
)

func defaults() collector.Config {
	var cfg collector.Config
	cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
	cfg.Node = "ip-10-0-0-1.ec2.internal"
	return cfg
}

func TestRunBecomesReady(t *testing.T) {
	testenv.CheckServiceStarts(t, "collector", func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		return collector.Run(ctx, cfg)
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*collector.Config)
		wants []string // in the error
	}{
		{"node", func(c *collector.Config) { c.Node = "bad node" }, []string{"--node"}},
		{"host root", func(c *collector.Config) { c.HostRoot = "/nonexistent/host" }, []string{"--host-root", "/nonexistent/host"}},
		{"interval", func(c *collector.Config) { c.Interval = 0 }, []string{"--interval"}},
		{"mount", func(c *collector.Config) { c.Mounts = "/,var/lib" }, []string{"--mounts", "var/lib"}},
		{"cgroup version", func(c *collector.Config) { c.CgroupVersion = 3 }, []string{"--cgroup-version", "3"}},
		{"kubelet url", func(c *collector.Config) { c.KubeletHealthzURL = "localhost:10248" }, []string{"--kubelet-healthz-url"}},
		{"sentinel command", func(c *collector.Config) { c.RebootSentinelCommand = `sh -c "unterminated` }, []string{"--reboot-sentinel-command"}},
		{"buffer", func(c *collector.Config) { c.BufferSize = 0 }, []string{"--buffer-size"}},
		{"monitor file", func(c *collector.Config) { c.LogMonitors = []string{"testdata/bad-pattern.json"} },
			[]string{"testdata/bad-pattern.json", "rules[1].pattern", "task (unclosed"}},
		{"missing monitor", func(c *collector.Config) { c.LogMonitors = []string{"testdata/none.json"} }, []string{"testdata/none.json"}},
		{"same source twice", func(c *collector.Config) {
			c.LogMonitors = []string{"monitors/kernel-monitor.json", "../../../shared/compat/npd/kernel-monitor.json"}
		}, []string{"--log-monitor", "kernel-monitor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults()
			cfg.Common = testenv.Common("nats://127.0.0.1:4222")
			tc.edit(&cfg)
			err := collector.Run(context.Background(), cfg)
			if !config.IsConfigError(err) {
				t.Fatalf("Run = %v, want a config error", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

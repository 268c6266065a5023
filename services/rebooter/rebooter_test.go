package rebooter_test

import (
	"context"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/rebooter"
)

func defaults() rebooter.Config {
	var cfg rebooter.Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.AddFlags(fs)
	cfg.Node = "ip-10-0-0-1.ec2.internal"
	return cfg
}

func TestRunBecomesReady(t *testing.T) {
	testenv.CheckServiceStarts(t, "rebooter", func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		cfg.RebootMethod = rebooter.MethodLog
		return rebooter.Run(ctx, cfg)
	})
}

// TestRunRejectsBadConfig: every bad flag value stops start-up with an error naming the flag.
func TestRunRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		flag string
		args []string
	}{
		{"reboot-method", []string{"--reboot-method", "kexec"}},
		{"reboot-command", []string{"--reboot-command", `/bin/systemctl "reboot`}},
		{"reboot-signal", []string{"--reboot-signal", "99"}},
		{"period", []string{"--period", "0s"}},
		{"concurrency", []string{"--concurrency", "0"}},
		{"lock-ttl", []string{"--lock-ttl", "-1s"}},
		{"reboot-days", []string{"--start-time", "25:00"}},
		{"reboot-days", []string{"--time-zone", "Mars/Olympus_Mons"}},
		{"alert-filter-regexp", []string{"--alert-filter-regexp", "("}},
		{"alertmanager-url", []string{"--alertmanager-url", "ftp://am"}},
		{"pre-reboot-node-labels", []string{"--pre-reboot-node-labels", "no equals sign"}},
		{"drain-pod-selector", []string{"--drain-pod-selector", "app in ("}},
		{"drain-pod-selector", []string{"--prefer-no-schedule-taint", "not a key!"}},
		{"kubeconfig", []string{"--kubeconfig", "/nonexistent/kubeconfig"}},
		{"blocking-pod-selector", []string{"--blocking-pod-selector", "app=backup"}},
		{"boot-id-file", []string{"--boot-id-file", "/nonexistent/boot_id", "--reboot-method", "log"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var cfg rebooter.Config
			fs := flag.NewFlagSet("rebooter", flag.ContinueOnError)
			cfg.AddFlags(fs)
			if _, err := config.ParseWithEnv(fs, append([]string{"--node", "n1"}, tc.args...), func(string) (string, bool) { return "", false }); err != nil {
				if !strings.Contains(err.Error(), tc.flag) {
					t.Fatalf("parse: %v, want it to name --%s", err, tc.flag)
				}
				return
			}
			srv := testenv.StartJetStream(t)
			srv.Provision(t)
			cfg.Common = testenv.Common(srv.ClientURL())
			err := rebooter.Run(context.Background(), cfg)
			if !config.IsConfigError(err) || !strings.Contains(err.Error(), "--"+tc.flag) {
				t.Fatalf("Run = %v, want a config error naming --%s", err, tc.flag)
			}
		})
	}
}

// fakeClock is a settable clock for window tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestWindow: outside the reboot window the request waits, blocked "outside window", with
// kured's gauge at 1; when the window opens it reboots and completes, and the gauge goes to 0.
func TestWindow(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)} // a Thursday
	h := newHarness(t, func(cfg *rebooter.Config) {
		cfg.Period = 200 * time.Millisecond
		cfg.Now = clock.Now
		cfg.Window.Start, cfg.Window.End, cfg.Window.TimeZone = "01:00", "02:00", "UTC"
		if err := cfg.Window.Days.Set("thu"); err != nil {
			t.Fatal(err)
		}
	})
	const node = "ip-10-0-0-7.ec2.internal"
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	h.waitStatus(30*time.Second, node, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED,
		"outside window ------------Thu------ between 01:00 and 02:00 UTC; opens 2026-11-26T01:00:00Z")
	testenv.WaitFor(t, 30*time.Second, "kured_reboot_required 1", func() bool {
		m := h.metrics(node)
		return strings.Contains(m, `kured_reboot_required{node="`+node+`"} 1`) &&
			strings.Contains(m, `nodewarden_rebooter_blocked{reason="window"} 1`)
	})
	if ivs := h.reboots(); len(ivs) != 0 {
		t.Fatalf("rebooted outside the window: %+v", ivs)
	}
	clock.Set(time.Date(2026, 11, 26, 1, 30, 0, 0, time.UTC))
	h.waitCompleted(30*time.Second, node)
	if ivs := h.reboots(); len(ivs) != 1 {
		t.Fatalf("reboots %+v, want one", ivs)
	}
	testenv.WaitFor(t, 30*time.Second, "kured_reboot_required 0 after the reboot", func() bool {
		return strings.Contains(h.metrics(node), `kured_reboot_required{node="`+node+`"} 0`)
	})
}

// TestRequestsMergeAndStale: requests of the same boot make one reboot; a request of a boot
// that has ended completes without a reboot.
func TestRequestsMergeAndStale(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)}
	h := newHarness(t, func(cfg *rebooter.Config) {
		cfg.Period = 200 * time.Millisecond
		cfg.Now = clock.Now
		cfg.Window.Start, cfg.Window.End, cfg.Window.TimeZone = "01:00", "02:00", "UTC"
	})
	const node = "ip-10-0-0-8.ec2.internal"
	h.addNode(node)
	h.request(node, "sentinel:a", "")
	h.request(node, "rule:b", "KernelDeadlock")
	h.request(node, "cli:c", "")
	h.waitStatus(30*time.Second, node, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, "outside window")
	clock.Set(time.Date(2026, 11, 26, 1, 30, 0, 0, time.UTC))
	h.waitCompleted(30*time.Second, node)
	if ivs := h.reboots(); len(ivs) != 1 {
		t.Fatalf("three merged requests gave %d reboots, want 1", len(ivs))
	}
	// A request made in the boot before the last reboot is already done.
	h.requestBoot(node, "sentinel:old", "0123456789abcdef0123456789abcdef")
	testenv.WaitFor(t, 30*time.Second, "the stale request completed", func() bool {
		for _, s := range h.phases(node) {
			if s.RequestId == "sentinel:old" && s.Phase == nwv1.RebootPhase_REBOOT_PHASE_COMPLETED && strings.Contains(s.Detail, "already done") {
				return true
			}
		}
		return false
	})
	if ivs := h.reboots(); len(ivs) != 1 {
		t.Fatalf("a stale request rebooted the node: %d reboots", len(ivs))
	}
}

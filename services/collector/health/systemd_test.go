package health

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSystemctl puts a systemctl shell script with body on a PATH of its own and returns the file
// its arguments are written to.
func fakeSystemctl(t *testing.T, body string) (argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return argsFile
}

func TestSystemdUnit(t *testing.T) {
	tests := []struct {
		name         string
		script       string
		timeout      time.Duration
		healthy      bool
		wantMessage  string
		wantRestarts uint32
	}{
		{
			name:    "active",
			script:  `printf 'LoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=3\n'`,
			healthy: true, wantMessage: "ActiveState=active (running)", wantRestarts: 3,
		},
		{
			name:        "failed",
			script:      `printf 'LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=7\n'`,
			wantMessage: "ActiveState=failed (failed)", wantRestarts: 7,
		},
		{
			name:        "activating",
			script:      `printf 'ActiveState=activating\nSubState=auto-restart\n'`,
			wantMessage: "ActiveState=activating (auto-restart)",
		},
		{
			name:        "not found",
			script:      `printf 'LoadState=not-found\nActiveState=inactive\nSubState=dead\nNRestarts=0\n'`,
			wantMessage: "unit kubelet.service not found",
		},
		{
			name:        "no ActiveState",
			script:      `printf 'LoadState=loaded\n'`,
			wantMessage: "no ActiveState",
		},
		{
			name:        "systemctl fails",
			script:      `echo "Failed to connect to bus: No such file or directory" >&2; exit 1`,
			wantMessage: "exit status 1: Failed to connect to bus",
		},
		{
			// The shell is killed at the timeout; sleep keeps its stdout open until WaitDelay.
			name:        "hangs",
			script:      `/bin/sleep 5; echo ActiveState=active`,
			timeout:     100 * time.Millisecond,
			wantMessage: "timed out after 100ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argsFile := fakeSystemctl(t, tt.script)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			c := SystemdUnit("kubelet.service", timeout)
			start := time.Now()
			r := c.Check(context.Background())
			if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
				t.Errorf("check took %v, want it bounded by the %v timeout", elapsed, timeout)
			}
			if r.Healthy != tt.healthy || !strings.Contains(r.Message, tt.wantMessage) || r.RestartCount != tt.wantRestarts {
				t.Errorf("Check = healthy %v, message %q, restarts %d; want %v, %q, %d",
					r.Healthy, r.Message, r.RestartCount, tt.healthy, tt.wantMessage, tt.wantRestarts)
			}
			wantArgs := "show -p LoadState -p ActiveState -p SubState -p NRestarts -- kubelet.service"
			if r.Component != "systemd/kubelet.service" || r.Check != "systemctl "+wantArgs {
				t.Errorf("component %q, check %q", r.Component, r.Check)
			}
			if b, err := os.ReadFile(argsFile); err != nil || strings.TrimSpace(string(b)) != wantArgs {
				t.Errorf("systemctl ran with %q (%v), want %q", b, err, wantArgs)
			}
		})
	}
}

func TestSystemdUnitNoSystemctl(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := SystemdUnit("kubelet", time.Second).Check(context.Background())
	if r.Healthy || !strings.Contains(r.Message, "systemctl not found, cannot check unit kubelet") {
		t.Errorf("Check = healthy %v, message %q; want unhealthy saying systemctl is missing", r.Healthy, r.Message)
	}
}

// The real systemctl, whatever this machine runs as init: an unknown unit is never healthy, and
// without systemd as PID 1 systemctl's own complaint is the message.
func TestSystemdUnitRealSystemctl(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("systemctl is not installed")
	}
	r := SystemdUnit("nodewarden-no-such-unit.service", 5*time.Second).Check(context.Background())
	if r.Healthy {
		t.Fatalf("an unknown unit is healthy: %+v", r)
	}
	want := "unit nodewarden-no-such-unit.service not found"
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		want = "has not been booted with systemd"
	}
	if !strings.Contains(r.Message, want) {
		t.Errorf("message %q, want it to contain %q", r.Message, want)
	}
}

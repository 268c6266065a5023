package health

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// systemctlWaitDelay bounds how long Check waits for systemctl's output after killing it at the
// timeout: a child that inherited its stdout would otherwise hold Wait open.
const systemctlWaitDelay = 200 * time.Millisecond

type systemdChecker struct {
	unit    string
	timeout time.Duration
	args    []string
}

// SystemdUnit checks a systemd unit with `systemctl show`: healthy when its ActiveState is
// "active". It reports the unit's NRestarts as the restart count, and a unit systemd does not know
// (LoadState not-found) as such. Where systemctl is not installed, every check is unhealthy and
// says so. The component is "systemd/<unit>", so it is told from the kubelet's /healthz check.
func SystemdUnit(unit string, timeout time.Duration) Checker {
	return &systemdChecker{
		unit:    unit,
		timeout: timeout,
		args:    []string{"show", "-p", "LoadState", "-p", "ActiveState", "-p", "SubState", "-p", "NRestarts", "--", unit},
	}
}

func (s *systemdChecker) Component() string { return "systemd/" + s.unit }

func (s *systemdChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := Result{Component: s.Component(), Check: "systemctl " + strings.Join(s.args, " ")}
	props, err := s.show(ctx)
	res.Latency = time.Since(start)
	if err != nil {
		res.Message = err.Error()
		return res
	}
	if n, err := strconv.ParseUint(props["NRestarts"], 10, 32); err == nil {
		res.RestartCount = uint32(n)
	}
	state := props["ActiveState"]
	if sub := props["SubState"]; sub != "" {
		state += " (" + sub + ")"
	}
	switch {
	case props["LoadState"] == "not-found":
		res.Message = "unit " + s.unit + " not found"
	case props["ActiveState"] == "":
		res.Message = "systemctl reported no ActiveState for " + s.unit
	case props["ActiveState"] == "active":
		res.Healthy = true
		res.Message = "ActiveState=" + state
	default:
		res.Message = "ActiveState=" + state
	}
	return res
}

// show runs systemctl and parses its key=value lines.
func (s *systemdChecker) show(ctx context.Context) (map[string]string, error) {
	bin, err := exec.LookPath("systemctl")
	if err != nil {
		return nil, fmt.Errorf("systemctl not found, cannot check unit %s: %w", s.unit, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, s.args...)
	cmd.WaitDelay = systemctlWaitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("systemctl show %s: timed out after %v", s.unit, s.timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("systemctl show %s: %w", s.unit, err)
		}
		return nil, fmt.Errorf("systemctl show %s: %w: %s", s.unit, err, snippet(msg))
	}
	props := make(map[string]string, 4)
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			props[k] = v
		}
	}
	return props, nil
}

package reboot

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
)

// DefaultSignal is kured's --reboot-signal default, SIGRTMIN+5, on which systemd reboots.
const DefaultSignal = 39

// Signal sends a signal to a process: --reboot-method=signal. It needs the host's PID namespace
// for PID 1 to be the host's init.
type Signal struct {
	sig    syscall.Signal
	pid    int
	logger *slog.Logger
}

// NewSignal returns the rebooter that sends sig to pid; pid 0 means 1, the host's init.
// Tests pass a child's pid: never signal the test machine's PID 1.
func NewSignal(sig, pid int, logger *slog.Logger) (*Signal, error) {
	if sig < 1 || sig > 64 {
		return nil, fmt.Errorf("reboot signal %d: want a signal number from 1 to 64", sig)
	}
	if pid < 0 {
		return nil, fmt.Errorf("reboot signal target pid %d: want a positive pid", pid)
	}
	if pid == 0 {
		pid = 1
	}
	return &Signal{sig: syscall.Signal(sig), pid: pid, logger: logger}, nil
}

// Reboot sends the signal. systemd acts on it asynchronously; nil means it was delivered.
func (s *Signal) Reboot(ctx context.Context) error {
	logger(s.logger).InfoContext(ctx, "sending reboot signal", "signal", int(s.sig), "pid", s.pid)
	// syscall.Kill rather than os.FindProcess: the latter may open a pidfd and reports a
	// missing process less directly.
	if err := syscall.Kill(s.pid, s.sig); err != nil {
		return fmt.Errorf("send signal %d to pid %d: %w", int(s.sig), s.pid, err)
	}
	return nil
}

// Package reboot is the rebooter's last step: the action that reboots the node once the lock is
// held and the node drained, in kured's two ways (run --reboot-command, by default through
// nsenter into the host's mount namespace, or send --reboot-signal to PID 1) plus a log-only
// way for `make run`, each after --reboot-delay. It also reads the node's boot id, which is how
// the rebooter tells, after its own restart, that the reboot it asked for has happened.
package reboot

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Rebooter reboots the node. A nil error means the reboot was asked for, not that it happened:
// the caller sees that from the boot id once it runs again.
type Rebooter interface {
	Reboot(ctx context.Context) error
}

var (
	_ Rebooter = (*Command)(nil)
	_ Rebooter = (*Signal)(nil)
	_ Rebooter = (*Log)(nil)
	_ Rebooter = (*Delayed)(nil)
)

// Log is the rebooter for --reboot-method=log: it only says what it would do.
type Log struct {
	Logger *slog.Logger
	Would  string // what the real method would do, for the log line
}

// Reboot logs and returns nil.
func (l *Log) Reboot(ctx context.Context) error {
	logger(l.Logger).InfoContext(ctx, "reboot not performed: --reboot-method=log", "would", l.Would)
	return nil
}

// Delayed waits Delay (kured's --reboot-delay) before calling Rebooter, so a drained node has
// time to settle; the wait ends early, without rebooting, when ctx ends.
type Delayed struct {
	Rebooter Rebooter
	Delay    time.Duration
	Logger   *slog.Logger
}

// Reboot waits, then reboots.
func (d *Delayed) Reboot(ctx context.Context) error {
	if d.Delay > 0 {
		logger(d.Logger).InfoContext(ctx, "waiting before reboot", "reboot_delay", d.Delay)
		t := time.NewTimer(d.Delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("reboot delay of %s: %w", d.Delay, context.Cause(ctx))
		case <-t.C:
		}
	}
	return d.Rebooter.Reboot(ctx)
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

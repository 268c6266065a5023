package reboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/shlex"
)

// NsenterPath is where kured runs nsenter from (its util.PrivilegedHostCommand).
const NsenterPath = "/usr/bin/nsenter"

// HostCommand wraps argv so it runs in the mount namespace of process pid, as kured does:
// "nsenter -m/proc/<pid>/ns/mnt -- argv...". With hostPID and a privileged pod, pid 1 is the
// host's init, so the command sees the host's /bin/systemctl and its D-Bus socket.
func HostCommand(pid int, argv []string) []string {
	return append([]string{NsenterPath, "-m/proc/" + strconv.Itoa(pid) + "/ns/mnt", "--"}, argv...)
}

// SplitCommand splits a --reboot-command value into an argument vector with kured's lexer
// (github.com/google/shlex: quotes and backslashes group words; nothing is expanded and no
// shell ever runs).
func SplitCommand(s string) ([]string, error) {
	argv, err := shlex.Split(s)
	if err != nil {
		return nil, fmt.Errorf("split reboot command %q: %w", s, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("split reboot command %q: no words", s)
	}
	return argv, nil
}

// maxOutput bounds what is kept of the command's output for the log and the error.
const maxOutput = 16 << 10

// Command runs an argument vector: --reboot-method=command.
type Command struct {
	argv   []string
	logger *slog.Logger
}

// NewCommand returns the rebooter that runs argv, wrapped by HostCommand(1, ...) when hostPIDNs
// (the pod shares the host's PID namespace, so PID 1 is the host's init).
func NewCommand(argv []string, hostPIDNs bool, logger *slog.Logger) (*Command, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("reboot command: empty argument vector")
	}
	argv = append([]string(nil), argv...)
	if hostPIDNs {
		argv = HostCommand(1, argv)
	}
	return &Command{argv: argv, logger: logger}, nil
}

// Argv is the vector Reboot runs, nsenter prefix included.
func (c *Command) Argv() []string { return append([]string(nil), c.argv...) }

// Reboot runs the command and waits for it. Its output is logged; a failure returns an error
// with the exit status and the end of the output. When ctx ends the command is killed.
func (c *Command) Reboot(ctx context.Context) error {
	log := logger(c.logger)
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	out := &tailBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// A child that keeps the output pipe open must not hold Wait forever after the kill.
	cmd.WaitDelay = 5 * time.Second
	log.InfoContext(ctx, "running reboot command", "argv", c.argv)
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if text != "" {
		log.InfoContext(ctx, "reboot command output", "argv0", c.argv[0], "output", text)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("run reboot command %q: stopped: %w", c.argv, context.Cause(ctx))
		}
		if text != "" {
			return fmt.Errorf("run reboot command %q: %w: %s", c.argv, err, text)
		}
		return fmt.Errorf("run reboot command %q: %w", c.argv, err)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it; stdout and stderr share it, hence the lock.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if over := t.buf.Len() + len(p) - t.max; over > 0 {
		t.buf.Next(over)
	}
	t.buf.Write(p)
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

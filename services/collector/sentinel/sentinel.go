// Package sentinel is kured's reboot-sentinel check, owned by the collector: a node needs a
// reboot when the sentinel file exists under the host root (/var/run/reboot-required, which
// Debian and Ubuntu's unattended upgrades create), or when the sentinel command exits 0 (e.g.
// RHEL's `needs-restarting -r` inverted). Where kured polls once an hour and reboots itself,
// the collector checks every interval and only publishes a RebootRequired: once per boot id,
// with a request id made of the node and the boot id, so a restarted collector, a retried
// publish or a sentinel that stays until the reboot never asks twice for the same boot. The
// boot id it asked for is kept in a state file; a new boot asks again if the sentinel is still
// (or again) there.
package sentinel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Reason is the reason of every request the sentinel makes.
const Reason = "sentinel"

// Options configure a Watcher.
type Options struct {
	// HostRoot is where the host's / is mounted ("/" when empty).
	HostRoot string
	// Path is the sentinel file as a path on the host; "" checks no file.
	Path string
	// Command is the sentinel command's argument vector; when set it is used instead of the
	// file, as kured does. Exit status 0 means a reboot is required, any other status that it
	// is not; a command that cannot be run is an error.
	Command []string
	// HostPIDNs runs Command in the host's mount namespace through nsenter (the collector then
	// runs with hostPID, so PID 1 is the host's init), as kured does.
	HostPIDNs bool
	// Timeout bounds one run of Command (30s).
	Timeout time.Duration
	// Interval is how often the sentinel is checked (1m).
	Interval time.Duration
	// Node is the node the requests are for.
	Node string
	// StateDir holds sentinel.json, the boot id last asked for; "" keeps it in memory only.
	StateDir string
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives the watcher's logs (slog.Default()).
	Logger *slog.Logger
}

// Publish sends one request; it returns nil once the request is stored.
type Publish func(ctx context.Context, r *nwv1.RebootRequired) error

// Counts are the watcher's counters since it was made.
type Counts struct {
	Checks, Required, Published, CheckErrors, PublishErrors uint64
}

// Watcher checks the sentinel and asks for a reboot once per boot.
type Watcher struct {
	opts                                                    Options
	log                                                     *slog.Logger
	statePath                                               string
	asked                                                   string // the boot id a request was published for
	checks, required, published, checkErrors, publishErrors atomic.Uint64
}

// New makes a watcher; it reads its state file, if any.
func New(opts Options) (*Watcher, error) {
	if opts.HostRoot == "" {
		opts.HostRoot = "/"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Node == "" {
		return nil, errors.New("sentinel: no node name")
	}
	w := &Watcher{opts: opts, log: opts.Logger.With("check", "reboot-sentinel")}
	if opts.StateDir != "" {
		w.statePath = filepath.Join(opts.StateDir, "sentinel.json")
		st, err := readState(w.statePath)
		if err != nil {
			// A damaged state file costs at most one repeated request, which the rebooter merges.
			w.log.Warn("sentinel state not read; starting afresh", "path", w.statePath, "err", err)
		}
		w.asked = st.BootID
	}
	return w, nil
}

// Enabled reports whether there is anything to check.
func (w *Watcher) Enabled() bool { return len(w.opts.Command) > 0 || w.opts.Path != "" }

// Counts returns the counters.
func (w *Watcher) Counts() Counts {
	return Counts{Checks: w.checks.Load(), Required: w.required.Load(), Published: w.published.Load(),
		CheckErrors: w.checkErrors.Load(), PublishErrors: w.publishErrors.Load()}
}

// RequestID is the request id of the sentinel's request for a node and boot: the same on every
// check, restart and retry within one boot.
func RequestID(node, bootID string) string { return "sentinel:" + node + ":" + bootID }

// Required checks the sentinel once: the command when there is one, else the file.
func (w *Watcher) Required(ctx context.Context) (bool, error) {
	if len(w.opts.Command) > 0 {
		return w.runCommand(ctx)
	}
	if w.opts.Path == "" {
		return false, nil
	}
	_, err := os.Stat(filepath.Join(w.opts.HostRoot, w.opts.Path))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat sentinel %s: %w", w.opts.Path, err)
	}
}

// argv is the command as run: through nsenter into PID 1's mount namespace when asked.
func (w *Watcher) argv() []string {
	if !w.opts.HostPIDNs {
		return w.opts.Command
	}
	return append([]string{"nsenter", "-m/proc/1/ns/mnt", "--"}, w.opts.Command...)
}

func (w *Watcher) runCommand(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	argv := w.argv()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("sentinel command %q: timed out after %v", strings.Join(argv, " "), w.opts.Timeout)
	case errors.As(err, &exit) && exit.Exited():
		w.log.Debug("sentinel command says no reboot", "exit", exit.ExitCode(), "output", snippet(out))
		return false, nil
	default:
		return false, fmt.Errorf("sentinel command %q: %w", strings.Join(argv, " "), err)
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Run checks the sentinel now and every interval until ctx ends, and publishes a request the
// first time it finds one in a boot.
func (w *Watcher) Run(ctx context.Context, publish Publish) {
	if !w.Enabled() {
		return
	}
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		w.Check(ctx, publish)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check runs one check and publishes when due. It reports whether a request was published.
func (w *Watcher) Check(ctx context.Context, publish Publish) bool {
	w.checks.Add(1)
	bootID, err := readBootID(w.opts.HostRoot)
	if err != nil {
		w.checkErrors.Add(1)
		w.log.Warn("boot id not read; cannot ask once per boot", "err", err)
		return false
	}
	if bootID == w.asked {
		return false // asked in this boot already: the sentinel stays until the reboot
	}
	req, err := w.Required(ctx)
	if err != nil {
		w.checkErrors.Add(1)
		w.log.Warn("sentinel not checked", "err", err)
		return false
	}
	if !req {
		return false
	}
	w.required.Add(1)
	r := &nwv1.RebootRequired{
		Node:      w.opts.Node,
		Time:      timestamppb.New(w.opts.Now()),
		RequestId: RequestID(w.opts.Node, bootID),
		Reason:    Reason,
		Origin:    "collector",
		BootId:    bootID,
	}
	if err := publish(ctx, r); err != nil {
		if ctx.Err() == nil {
			w.publishErrors.Add(1)
			w.log.Warn("reboot request not published; next check retries", "err", err)
		}
		return false
	}
	w.published.Add(1)
	w.asked = bootID
	w.log.Info("reboot required", "request_id", r.RequestId, "boot_id", bootID)
	if w.statePath != "" {
		if err := writeState(w.statePath, state{BootID: bootID, RequestID: r.RequestId, Published: r.Time.AsTime()}); err != nil {
			w.log.Warn("sentinel state not saved; a restart may ask again", "err", err)
		}
	}
	return true
}

func readBootID(root string) (string, error) {
	p := filepath.Join(root, "proc/sys/kernel/random/boot_id")
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("read boot id %s: empty", p)
	}
	return id, nil
}

type state struct {
	BootID    string    `json:"boot_id"`
	RequestID string    `json:"request_id"`
	Published time.Time `json:"published"`
}

func readState(path string) (state, error) {
	var st state
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return st, nil
}

// writeState replaces the state file atomically, so a crash leaves the old or the new one.
func writeState(path string, st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write sentinel state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write sentinel state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write sentinel state: %w", err)
	}
	return nil
}

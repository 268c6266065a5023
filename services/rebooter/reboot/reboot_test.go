package reboot

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestCommandPassesArgvExactly(t *testing.T) {
	out := filepath.Join(t.TempDir(), "argv.json")
	t.Setenv(helperEnv, "argv")
	t.Setenv(outEnv, out)
	// Words a shell would split, expand or act on must arrive untouched.
	args := []string{"reboot", "two words", "", "$HOME", "'quoted'", "; touch /tmp/pwned", "*", "a\nb"}
	c, err := NewCommand(append([]string{os.Args[0]}, args...), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Reboot(context.Background()); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	var got []string
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, args) {
		t.Errorf("helper got %q, want %q", got, args)
	}
}

func TestCommandArgv(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		host bool
		want []string
	}{
		{"plain", []string{"/bin/systemctl", "reboot"}, false, []string{"/bin/systemctl", "reboot"}},
		{"kured's nsenter prefix", []string{"/bin/systemctl", "reboot"}, true,
			[]string{"/usr/bin/nsenter", "-m/proc/1/ns/mnt", "--", "/bin/systemctl", "reboot"}},
	}
	for _, tc := range tests {
		c, err := NewCommand(tc.argv, tc.host, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Argv(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Argv = %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := NewCommand(nil, true, nil); err == nil {
		t.Error("NewCommand(nil) succeeded, want an error")
	}
}

// TestCommandThroughNsenter runs the helper through the real nsenter into PID 1's mount
// namespace, which is possible where that is our own and we are root.
func TestCommandThroughNsenter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("nsenter -m needs root")
	}
	if _, err := os.Stat(NsenterPath); err != nil {
		t.Skipf("%s not installed: %v", NsenterPath, err)
	}
	host, err1 := os.Readlink("/proc/1/ns/mnt")
	self, err2 := os.Readlink("/proc/self/ns/mnt")
	if err1 != nil || err2 != nil || host != self {
		t.Skipf("PID 1's mount namespace (%s, %v) is not ours (%s, %v): the helper binary would not be found there", host, err1, self, err2)
	}
	out := filepath.Join(t.TempDir(), "argv.json")
	t.Setenv(helperEnv, "argv")
	t.Setenv(outEnv, out)
	c, err := NewCommand([]string{os.Args[0], "reboot", "now"}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Reboot(context.Background()); err != nil {
		t.Fatalf("Reboot through nsenter: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["reboot","now"]` {
		t.Errorf("helper got %s, want [\"reboot\",\"now\"]", b)
	}
}

func TestCommandFailures(t *testing.T) {
	t.Run("exit status and output", func(t *testing.T) {
		t.Setenv(helperEnv, "fail")
		c, _ := NewCommand([]string{os.Args[0]}, false, nil)
		err := c.Reboot(context.Background())
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || !strings.Contains(err.Error(), "Access denied") {
			t.Fatalf("Reboot = %v, want exit status 3 with the command's output", err)
		}
	})
	t.Run("missing program", func(t *testing.T) {
		c, _ := NewCommand([]string{"/nonexistent/systemctl", "reboot"}, false, nil)
		if err := c.Reboot(context.Background()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Reboot = %v, want not-exist", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		t.Setenv(helperEnv, "hang")
		c, _ := NewCommand([]string{os.Args[0]}, false, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- c.Reboot(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Reboot = %v, want the context's deadline", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Reboot still running 10s after its context ended")
		}
	})
}

func TestSignalDelivered(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=trap", sigEnv+"="+strconv.Itoa(DefaultSignal))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := bufio.NewReader(stdout)
	if line := readLine(t, r); line != "ready\n" {
		t.Fatalf("helper said %q, want ready", line)
	}
	s, err := NewSignal(DefaultSignal, cmd.Process.Pid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reboot(context.Background()); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	if line := readLine(t, r); line != "got 39\n" {
		t.Fatalf("helper said %q, want got 39", line)
	}
}

func TestSignalErrors(t *testing.T) {
	for _, tc := range []struct{ sig, pid int }{{0, 5}, {65, 5}, {39, -1}} {
		if _, err := NewSignal(tc.sig, tc.pid, nil); err == nil {
			t.Errorf("NewSignal(%d, %d) succeeded, want an error", tc.sig, tc.pid)
		}
	}
	if s, _ := NewSignal(39, 0, nil); s.pid != 1 {
		t.Errorf("NewSignal pid 0 targets %d, want 1", s.pid)
	}
	// A reaped child's pid names no process.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=fail")
	_ = cmd.Run()
	s, _ := NewSignal(DefaultSignal, cmd.Process.Pid, nil)
	if err := s.Reboot(context.Background()); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal to a gone process = %v, want ESRCH", err)
	}
}

type countingRebooter struct{ n atomic.Int32 }

func (c *countingRebooter) Reboot(context.Context) error { c.n.Add(1); return nil }

func TestDelay(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		inner := &countingRebooter{}
		d := &Delayed{Rebooter: inner, Delay: time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Reboot(ctx) }()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Reboot = %v, want canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("cancelled delay did not end within 10s")
		}
		if n := inner.n.Load(); n != 0 {
			t.Errorf("rebooted %d times after cancellation, want 0", n)
		}
	})
	t.Run("waits then reboots", func(t *testing.T) {
		inner := &countingRebooter{}
		d := &Delayed{Rebooter: inner, Delay: 50 * time.Millisecond}
		start := time.Now()
		if err := d.Reboot(context.Background()); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < d.Delay {
			t.Errorf("rebooted after %s, want at least %s", el, d.Delay)
		}
		if n := inner.n.Load(); n != 1 {
			t.Errorf("rebooted %d times, want 1", n)
		}
	})
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"/bin/systemctl reboot", []string{"/bin/systemctl", "reboot"}, false},
		{`/sbin/shutdown -r +1 "kernel update"`, []string{"/sbin/shutdown", "-r", "+1", "kernel update"}, false},
		{`sh -c "echo a; reboot"`, []string{"sh", "-c", "echo a; reboot"}, false},
		{"", nil, true},
		{"   ", nil, true},
		{`"unterminated`, nil, true},
	}
	for _, tc := range tests {
		got, err := SplitCommand(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestNew(t *testing.T) {
	var logBuf strings.Builder
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	r, err := New(Options{Method: "command", Command: "/bin/systemctl reboot", HostPIDNs: true, Delay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := r.(*Delayed)
	if !ok || d.Delay != time.Minute {
		t.Fatalf("New = %#v, want a Delayed of 1m", r)
	}
	if c, ok := d.Rebooter.(*Command); !ok || c.Argv()[0] != NsenterPath {
		t.Errorf("command method built %#v, want a Command through nsenter", d.Rebooter)
	}
	if r, err = New(Options{Method: "signal", Signal: 39}); err != nil || r.(*Delayed).Rebooter.(*Signal).pid != 1 {
		t.Errorf("signal method: %#v, %v; want a Signal to pid 1", r, err)
	}
	r, err = New(Options{Method: "log", Command: "/bin/systemctl reboot", HostPIDNs: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logBuf.String(), `would="run /usr/bin/nsenter -m/proc/1/ns/mnt -- /bin/systemctl reboot"`) {
		t.Errorf("log method logged %q, want what it would run", logBuf.String())
	}
	for _, o := range []Options{{Method: "kexec"}, {Method: "command"}, {Method: "signal", Signal: 99}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", o)
		}
	}
}

func TestBootIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "boot_id")
	src := BootIDFile(path)
	if _, err := src.Current(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Current on a missing file = %v, want not-exist", err)
	}
	for _, id := range []string{"2f1e9c4a-0c9e-4d57-9a43-3c1f8e0b7a11", "9d0e2b37-5c8a-4f0e-b1d2-6a7c8e9f0a1b"} {
		// A reboot changes the file; each call must read it afresh.
		if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := src.Current(); err != nil || got != id {
			t.Fatalf("Current = %q, %v; want %q", got, err, id)
		}
	}
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Current(); err == nil {
		t.Error("Current on an empty file succeeded, want an error")
	}
	if got := HostBootIDFile("/host"); got != "/host/proc/sys/kernel/random/boot_id" {
		t.Errorf("HostBootIDFile(/host) = %s", got)
	}
	if got := HostBootIDFile(""); got != BootIDPath {
		t.Errorf("HostBootIDFile(\"\") = %s, want %s", got, BootIDPath)
	}
}

func TestBootIDReal(t *testing.T) {
	if _, err := os.Stat(BootIDPath); err != nil {
		t.Skipf("%s not available (not Linux?): %v", BootIDPath, err)
	}
	id, err := HostBootIDFile("/").Current()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("boot id %q is not a UUID", id)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnopqrstuvwxyz", "12"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "uvwxyz12" {
		t.Errorf("tail = %q, want uvwxyz12", got)
	}
}

// TestHostCommandWithRealNsenter proves kured's nsenter arguments work with the installed
// nsenter, entering our own mount namespace (PID 1's may be out of reach in a sandbox).
func TestHostCommandWithRealNsenter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("nsenter -m needs root")
	}
	if _, err := os.Stat(NsenterPath); err != nil {
		t.Skipf("%s not installed: %v", NsenterPath, err)
	}
	out := filepath.Join(t.TempDir(), "argv.json")
	t.Setenv(helperEnv, "argv")
	t.Setenv(outEnv, out)
	c := &Command{argv: HostCommand(os.Getpid(), []string{os.Args[0], "-x", "two words"})}
	if err := c.Reboot(context.Background()); err != nil {
		t.Fatalf("Reboot through nsenter: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["-x","two words"]` {
		t.Errorf("helper got %s, want [\"-x\",\"two words\"]", b)
	}
}

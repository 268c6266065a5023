package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// procStopGrace is how long a SIGTERM'd service gets before SIGKILL; services shut down in
// well under their 10 s --shutdown-timeout in tests.
const procStopGrace = 15 * time.Second

// logTailBytes is how much of a process's log a failure message quotes.
const logTailBytes = 3000

// Proc is one service process built from cmd/: started, killed and started again by the
// harness, with its output appended to one log file across restarts. Its HTTP port stays the
// same across restarts, so Prometheus keeps scraping it.
type Proc struct {
	Name string // e.g. "sink", "collector/node-1", "detector-1"
	// Addr is the host:port of its /metrics, /healthz and /readyz.
	Addr string

	bin     string
	args    []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed once the current run has exited
	err    error         // how the current run exited, once done
	killed bool          // the harness stopped the current run (Kill or Stop)
}

func newProc(t *testing.T, dir, name, bin string, args ...string) *Proc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	file := strings.ReplaceAll(name, "/", "_")
	return &Proc{Name: name, Addr: addr, bin: bin, logPath: filepath.Join(dir, file+".log"),
		args: append(append([]string{}, args...), "--http-listen="+addr, "--log-format=text")}
}

// URL is the base URL of its HTTP server.
func (p *Proc) URL() string { return "http://" + p.Addr }

// Start runs the process (again) and waits until its /readyz answers 200.
func (p *Proc) Start(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	if err := p.waitReady(60 * time.Second); err != nil {
		t.Fatalf("%s: %v; its log ends:\n%s", p.Name, err, p.LogTail())
	}
}

// start runs the process without waiting for readiness; safe from any goroutine.
func (p *Proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running", p.Name)
		}
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	fmt.Fprintf(logFile, "=== harness: start %s at %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = serviceEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // kill reaches the reboot program it runs, too
		Pdeathsig: syscall.SIGKILL, // never outlive a test binary that died before its cleanups
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("exec %s: %w", p.bin, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed = cmd, done, false
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// serviceEnv is the test's environment without NW_ variables: every service reads its flags
// from NW_<FLAG> too, and the harness's own settings (NW_E2E_FULL) are none of theirs.
func serviceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NW_") && !strings.HasPrefix(kv, "NODE_NAME=") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *Proc) waitReady(timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		resp, err := client.Get(p.URL() + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-done:
			return fmt.Errorf("exited before it was ready (%v)", p.exitErr())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 after %s: %s", timeout, last)
		}
	}
}

// crashed reports whether the current run exited without the harness stopping it.
func (p *Proc) crashed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.killed {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Running reports whether the current run has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the process group and waits for the exit: a crash, or the node
// going down.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL, 0) }

// Stop sends SIGTERM, then SIGKILL after a grace period, and waits for the exit.
func (p *Proc) Stop() { p.signal(syscall.SIGTERM, procStopGrace) }

func (p *Proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.killed = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig) // Setpgid: the group id is the pid
	if sig == syscall.SIGKILL {
		<-done
		return
	}
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Metrics returns its /metrics text, or "" when it does not answer.
func (p *Proc) Metrics() string {
	resp, err := http.Get(p.URL() + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// LogTail returns the end of its log, from a line boundary.
func (p *Proc) LogTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	if len(b) == 0 {
		return "(empty)"
	}
	return string(b)
}

// freePort returns a free loopback TCP port. Another process may take it before the service
// binds it; that rare race shows as a readiness failure naming the port.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitCond polls cond every 50 ms until it is true or timeout passes, and reports which.
func waitCond(timeout time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-tick.C:
		}
	}
	return true
}

package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// pollInterval is how often readiness and wait helpers ask again.
	pollInterval = 50 * time.Millisecond
	// stopGrace is how long a server may take to shut down on SIGTERM before it is killed.
	stopGrace = 5 * time.Second
	// logTailBytes bounds how much of a server's log a failure message quotes.
	logTailBytes = 4096
)

// process is one server started for a test, with its output captured in a log file.
type process struct {
	name     string
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{} // closed once the process has exited and been reaped
	waitErr  error         // how it exited; read only after done is closed
	logShown bool          // the log tail is already in a failure message
}

// startProcess runs bin with args in dir, stdout and stderr going to dir/<name>.log, and
// registers its stop in t.Cleanup. dir must come from t.TempDir() called before this, so that
// the (later registered, earlier run) stop happens before the directory is removed.
func startProcess(t testing.TB, name, dir, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testenv: create log file for %s: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile // an *os.File is handed to the child as is: no copying goroutine
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so stop can signal the server and anything it spawned.
		Setpgid: true,
		// Killed by the kernel if the test binary dies (panic, timeout, SIGKILL) before
		// its cleanups run, so no server outlives the test run holding ports and memory.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("testenv: start %s (%s): %v", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace, and waits for the
// exit. A server that died during the test is reported with its log, as that usually
// explains the test's failure.
func (p *process) stop(t testing.TB) {
	select {
	case <-p.done:
		if !p.logShown {
			t.Logf("testenv: %s had exited during the test (%v); its log ends:\n%s", p.name, p.waitErr, p.logTail())
		}
		return
	default:
	}
	pgid := p.cmd.Process.Pid // Setpgid made the group id equal to the pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		t.Logf("testenv: %s still running %s after SIGTERM; sending SIGKILL", p.name, stopGrace)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	if t.Failed() && !p.logShown {
		t.Logf("testenv: %s log ends:\n%s", p.name, p.logTail())
	}
}

// waitReady polls ready until it returns nil, failing the test with the end of the server's
// log when the process exits first or timeout passes.
func (p *process) waitReady(t testing.TB, timeout time.Duration, ready func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return
		}
		select {
		case <-p.done:
			p.logShown = true
			t.Fatalf("testenv: %s exited before it was ready (%v); its log %s ends:\n%s",
				p.name, p.waitErr, p.logPath, p.logTail())
		case <-ctx.Done():
			p.logShown = true
			t.Fatalf("testenv: %s not ready after %s: %v; its log %s ends:\n%s",
				p.name, timeout, err, p.logPath, p.logTail())
		case <-ticker.C:
		}
	}
}

// logTail returns the last logTailBytes of the log, starting at a line boundary.
func (p *process) logTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	start := max(info.Size()-logTailBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, start, info.Size()-start))
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	s := string(b)
	if start > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// freePorts returns n distinct free loopback TCP ports. All listeners stay open until every
// port is chosen, so the kernel cannot hand out the same one twice. Another process may still
// take a port before the server binds it; that race is rare and shows as a readiness failure.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: pick a free loopback port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// httpCheck returns nil when a request to url answers with status want. header may be nil.
func httpCheck(ctx context.Context, client *http.Client, method, url string, header http.Header, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return fmt.Errorf("build request %s %s: %w", method, url, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, strings.TrimSpace(string(body)))
	}
	return nil
}

// poll calls cond every pollInterval until it reports done, returns an error, or ctx ends.
// A ctx without a deadline gets defaultWait, so no wait can hang a test run.
func poll(ctx context.Context, what string, cond func(ctx context.Context) (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWait)
		defer cancel()
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			if !errors.Is(err, errNotYet) {
				return fmt.Errorf("wait for %s: %w", what, err)
			}
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("wait for %s: %w (last: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-ticker.C:
		}
	}
}

// errNotYet wraps a condition's reason for not being met yet: poll keeps going and quotes the
// last one if the deadline passes.
var errNotYet = errors.New("not yet")

// defaultWait bounds waits whose context has no deadline.
const defaultWait = 30 * time.Second

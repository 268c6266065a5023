package logwatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// The fake host every test reads: it booted at btime with this boot id.
const (
	testBtime  = 1700000000
	testBootID = "4f6c1a52-0d3b-4a8e-9f5e-0123456789ab"
)

var testBoot = time.Unix(testBtime, 0)

// newHost copies testdata/host (proc/stat, the boot id) into a temporary host root that
// tests may write logs into.
func newHost(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	err := filepath.Walk("testdata/host", func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/host", p)
		dst := filepath.Join(root, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// appendFile appends s to the file at root/rel, creating it and its directory.
func appendFile(t *testing.T, root, rel, s string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// monitor parses a monitor file given inline.
func monitor(t *testing.T, js string) *npdconfig.Monitor {
	t.Helper()
	m, err := npdconfig.Parse("test.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// compatMonitor loads one of NPD's own files from ../shared/compat/npd beside the workspace.
func compatMonitor(t *testing.T, name string) *npdconfig.Monitor {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = filepath.Dir(dir)
	}
	m, err := npdconfig.Load(filepath.Join(dir, "..", "shared", "compat", "npd", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sink records what is published; fail, when set, decides whether call n (from 1) fails.
type sink struct {
	mu      sync.Mutex
	calls   int
	batches []*nwv1.LogBatch
	fail    func(n int) error
}

func (s *sink) publish(_ context.Context, b *nwv1.LogBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(s.calls); err != nil {
			return err
		}
	}
	s.batches = append(s.batches, proto.Clone(b).(*nwv1.LogBatch))
	return nil
}

func (s *sink) snapshot() []*nwv1.LogBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*nwv1.LogBatch(nil), s.batches...)
}

func (s *sink) lines() []*nwv1.LogLine {
	var out []*nwv1.LogLine
	for _, b := range s.snapshot() {
		out = append(out, b.Lines...)
	}
	return out
}

func (s *sink) messages() string {
	var m []string
	for _, l := range s.lines() {
		m = append(m, l.Message)
	}
	return strings.Join(m, "|")
}

// checkBatches checks what every batch must hold: the node and source, a stream, and lines
// with consecutive sequences from first_seq.
func checkBatches(t *testing.T, batches []*nwv1.LogBatch, node, source string) {
	t.Helper()
	for i, b := range batches {
		if b.Node != node || b.Source != source || b.StreamId == "" || b.Time == nil || len(b.Lines) == 0 {
			t.Fatalf("batch %d: %v", i, b)
		}
		for j, l := range b.Lines {
			if l.Seq != b.FirstSeq+uint64(j) {
				t.Fatalf("batch %d line %d: seq %d, first_seq %d", i, j, l.Seq, b.FirstSeq)
			}
		}
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running is a watcher running in the background; stop cancels it and waits for Run.
type running struct {
	w    *Watcher
	stop func()
}

func start(t *testing.T, mon *npdconfig.Monitor, opts Options, s *sink, setup ...func(*Watcher)) running {
	t.Helper()
	if opts.Node == "" {
		opts.Node = "ip-10-0-0-1.ec2.internal"
	}
	if opts.Poll == 0 {
		opts.Poll = 5 * time.Millisecond
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 20 * time.Millisecond
	}
	if opts.RetryBase == 0 {
		opts.RetryBase, opts.RetryMax = time.Millisecond, 10*time.Millisecond
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	w, err := New(mon, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, s.publish) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return running{w: w, stop: stop}
}

// kmsgRecord is one /dev/kmsg record line.
func kmsgRecord(prio int, seq uint64, at time.Duration, msg string) string {
	return fmt.Sprintf("%d,%d,%d,-;%s\n", prio, seq, at.Microseconds(), msg)
}

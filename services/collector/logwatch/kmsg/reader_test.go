package kmsg

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readLines reads n lines, failing after a deadline instead of hanging.
func readLines(t *testing.T, r *Reader, n int) []string {
	t.Helper()
	type res struct {
		lines []string
		err   error
	}
	ch := make(chan res, 1)
	go func() {
		var out []string
		for len(out) < n {
			l, err := r.ReadLine()
			if err != nil {
				ch <- res{out, err}
				return
			}
			out = append(out, string(l))
		}
		ch <- res{out, nil}
	}()
	select {
	case got := <-ch:
		if got.err != nil {
			t.Fatalf("after %q: %v", got.lines, got.err)
		}
		return got.lines
	case <-time.After(10 * time.Second):
		r.Close()
		t.Fatalf("no %d lines within 10s", n)
		return nil
	}
}

func TestReaderFileFollowsAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsg")
	first := "6,1,100,-;first\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:01.0\n4,2,200,-;second\n"
	if err := os.WriteFile(path, []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Poll = 5 * time.Millisecond
	if got := readLines(t, r, 2); strings.Join(got, "|") != "6,1,100,-;first|4,2,200,-;second" {
		t.Fatalf("got %q", got)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A record written in two pieces is returned once, whole.
	if _, err := f.WriteString("3,3,300,-;thi"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond) // let the reader reach the partial line first
		f.WriteString("rd\n KEY=v\n6,4,400,-;fourth\n")
	}()
	if got := readLines(t, r, 2); strings.Join(got, "|") != "3,3,300,-;third|6,4,400,-;fourth" {
		t.Fatalf("got %q", got)
	}
}

func TestReaderCloseStopsWaiting(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Hold the FIFO's write end so the reader blocks rather than seeing EOF.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, path := range []string{plain, fifo} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := r.ReadLine()
				done <- err
			}()
			time.Sleep(20 * time.Millisecond) // let ReadLine block
			r.Close()
			select {
			case err := <-done:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("err = %v, want ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not stop ReadLine")
			}
		})
	}
}

// overrunDevice plays the device: one record per Read, and EPIPE where the script says.
type overrunDevice struct {
	mu     sync.Mutex
	script []any // string records or errors
}

func (d *overrunDevice) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.script) == 0 {
		return 0, io.EOF
	}
	next := d.script[0]
	d.script = d.script[1:]
	if err, ok := next.(error); ok {
		return 0, err
	}
	return copy(p, next.(string)), nil
}

func (d *overrunDevice) Close() error { return nil }

func TestReaderOverrun(t *testing.T) {
	dev := &overrunDevice{script: []any{
		"6,10,1,-;before\n",
		&os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EPIPE},
		"6,15,2,-;after\n",
		&os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EINVAL},
	}}
	r := NewReader(dev, "/dev/kmsg")
	if l, err := r.ReadLine(); err != nil || string(l) != "6,10,1,-;before" {
		t.Fatalf("%q, %v", l, err)
	}
	if _, err := r.ReadLine(); !errors.Is(err, ErrOverrun) {
		t.Fatalf("err = %v, want ErrOverrun", err)
	}
	if l, err := r.ReadLine(); err != nil || string(l) != "6,15,2,-;after" {
		t.Fatalf("%q, %v", l, err)
	}
	if _, err := r.ReadLine(); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "read /dev/kmsg") {
		t.Fatalf("err = %v, want EINVAL naming the device", err)
	}
}

func TestReaderLongLineInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsg")
	long := "6,1,1,-;" + strings.Repeat("x", 100<<10)
	if err := os.WriteFile(path, []byte(long+"\n6,2,2,-;short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Poll = time.Millisecond
	total := 0
	for {
		l, err := r.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if string(l) == "6,2,2,-;short" {
			break
		}
		total += len(l)
		if total > len(long) {
			t.Fatalf("read %d bytes of a %d-byte line", total, len(long))
		}
	}
	if total != len(long) {
		t.Fatalf("pieces hold %d bytes, want %d", total, len(long))
	}
}

// TestReaderRealDevice reads this machine's kernel log: the kernel's own record format, one
// record per read, through the same code the collector runs.
func TestReaderRealDevice(t *testing.T) {
	r, err := Open("/dev/kmsg")
	if err != nil {
		t.Skipf("/dev/kmsg cannot be opened here (%v): needs Linux and CAP_SYSLOG or root", err)
	}
	defer r.Close()
	got := readLines(t, r, 1)
	var rec Record
	if err := Parse([]byte(got[0]), &rec); err != nil {
		t.Fatalf("real record %q: %v", got[0], err)
	}
	if len(rec.Message) == 0 || rec.Flag == 0 {
		t.Fatalf("real record %q parsed as %+v", got[0], rec)
	}
	// The first record still in the ring buffer; then sequence numbers only grow.
	more := readLines(t, r, 5)
	prev := rec.Seq
	for _, l := range more {
		if err := Parse([]byte(l), &rec); err != nil {
			t.Fatalf("real record %q: %v", l, err)
		}
		if rec.Seq <= prev {
			t.Fatalf("sequence %d after %d", rec.Seq, prev)
		}
		prev = rec.Seq
	}
}

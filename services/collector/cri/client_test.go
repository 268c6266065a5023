package cri

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTarget(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, socket, want string
		wantErr            bool
	}{
		{name: "path", socket: "/run/containerd/containerd.sock", want: "unix:///run/containerd/containerd.sock"},
		{name: "unix URL", socket: "unix:///var/run/crio/crio.sock", want: "unix:///var/run/crio/crio.sock"},
		{name: "relative path", socket: "cri.sock", want: "unix://" + filepath.Join(cwd, "cri.sock")},
		{name: "cleaned", socket: "/run//containerd/../containerd/containerd.sock", want: "unix:///run/containerd/containerd.sock"},
		{name: "empty", socket: "", wantErr: true},
		{name: "empty URL path", socket: "unix://", wantErr: true},
		{name: "tcp refused", socket: "tcp://127.0.0.1:1234", wantErr: true},
		{name: "npipe refused", socket: "npipe:////./pipe/containerd", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Target(tt.socket)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Target(%q) error = %v, want error %v", tt.socket, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Target(%q) = %q, want %q", tt.socket, got, tt.want)
			}
		})
	}
}

func TestDialRefuses(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		socket  string
		timeout time.Duration
		wantErr error
	}{
		{name: "zero timeout", ctx: context.Background(), socket: "/x.sock", timeout: 0},
		{name: "bad scheme", ctx: context.Background(), socket: "tcp://x:1", timeout: time.Second},
		{name: "cancelled", ctx: cancelled, socket: "/x.sock", timeout: time.Second, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(tt.ctx, tt.socket, tt.timeout)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Dial error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// A runtime that is not there is an error per call, quickly, naming the socket; never at Dial.
func TestMissingSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	c, err := Dial(context.Background(), sock, 5*time.Second)
	if err != nil {
		t.Fatalf("Dial of a missing socket must be lazy: %v", err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Version(context.Background())
	if err == nil {
		t.Fatal("Version on a missing socket succeeded")
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), sock) {
		t.Errorf("Version error = %v, want Unavailable naming %s", err, sock)
	}
	if d := time.Since(start); d >= 5*time.Second {
		t.Errorf("Version took %v; a missing socket must fail fast, not wait for the timeout", d)
	}
	if _, err := c.Status(context.Background()); err == nil {
		t.Error("Status on a missing socket succeeded")
	}
	m, err := c.Containers(context.Background())
	if err == nil || m != nil {
		t.Errorf("Containers = %v, %v; want nil and an error", m, err)
	}
}

// hungListener accepts connections and never answers, like a runtime stuck in a deadlock.
func hungListener(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nwhung")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "hung.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		os.RemoveAll(dir)
	})
	return sock
}

// Every call is bounded by the timeout, and a failed refresh is reused until the minimum refresh
// interval has passed, so a hung runtime costs one timeout per interval.
func TestHungRuntimeBoundedByTimeout(t *testing.T) {
	sock := hungListener(t)
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	const timeout = 300 * time.Millisecond
	c, err := Dial(context.Background(), sock, timeout, withClock(clock), WithMinRefresh(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The first call waits for the server's preface until the timeout; later ones may fail
	// sooner, once gRPC has given up on the connection. None waits longer than the timeout.
	for _, call := range []struct {
		name string
		fn   func() error
	}{
		{"Version", func() error { _, err := c.Version(context.Background()); return err }},
		{"Status", func() error { _, err := c.Status(context.Background()); return err }},
		{"Containers", func() error { _, err := c.Containers(context.Background()); return err }},
	} {
		start := time.Now()
		err := call.fn()
		elapsed := time.Since(start)
		if err == nil {
			t.Errorf("%s on a hung runtime succeeded", call.name)
		}
		// DeadlineExceeded, or Unavailable when gRPC's connect attempt (bounded by the same
		// timeout) gives up first: either way, a failure within the timeout.
		if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Unavailable {
			t.Errorf("%s error = %v, want DeadlineExceeded or Unavailable", call.name, err)
		}
		if elapsed > timeout+2*time.Second {
			t.Errorf("%s returned after %v, want at most about %v", call.name, elapsed, timeout)
		}
	}

	_, err1 := c.Containers(context.Background())
	advance(4 * time.Second)
	_, err2 := c.Containers(context.Background())
	if err2 != err1 { //nolint:errorlint // identity shows the failure was reused, not retried
		t.Errorf("within the minimum refresh interval got a new error %v, want the cached %v", err2, err1)
	}
	advance(2 * time.Second)
	_, err3 := c.Containers(context.Background())
	if err3 == nil || err3 == err1 { //nolint:errorlint // identity shows a new attempt
		t.Errorf("after the minimum refresh interval got %v, want a new attempt's error", err3)
	}
}

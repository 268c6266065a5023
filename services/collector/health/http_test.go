package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestKubelet(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	handlers := map[string]http.HandlerFunc{
		"ok":       func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) },
		"ok-nl":    func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) },
		"500":      func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "[-]syncloop failed", 500) },
		"wrong":    func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("not yet")) },
		"redirect": func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) },
		"slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
		"slow-body": func(w http.ResponseWriter, r *http.Request) { w.(http.Flusher).Flush(); <-r.Context().Done() },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers[strings.TrimPrefix(r.URL.Path, "/")](w, r)
	}))
	defer srv.Close()

	// A port nothing listens on: take one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	tests := []struct {
		name        string
		url         string
		timeout     time.Duration
		healthy     bool
		wantMessage string
	}{
		{name: "200 ok", url: srv.URL + "/ok", timeout: 2 * time.Second, healthy: true},
		{name: "200 ok newline", url: srv.URL + "/ok-nl", timeout: 2 * time.Second, healthy: true},
		{name: "500", url: srv.URL + "/500", timeout: 2 * time.Second, wantMessage: "status 500: [-]syncloop failed"},
		{name: "200 but not ok", url: srv.URL + "/wrong", timeout: 2 * time.Second, wantMessage: `answer "not yet", want "ok"`},
		{name: "redirect not followed", url: srv.URL + "/redirect", timeout: 2 * time.Second, wantMessage: "status 302"},
		{name: "slow", url: srv.URL + "/slow", timeout: 100 * time.Millisecond, wantMessage: "timed out after 100ms"},
		{name: "slow body", url: srv.URL + "/slow-body", timeout: 100 * time.Millisecond, wantMessage: "timed out after 100ms"},
		{name: "connection refused", url: refused, timeout: 2 * time.Second, wantMessage: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Kubelet(tt.url, tt.timeout)
			start := time.Now()
			r := c.Check(context.Background())
			if elapsed := time.Since(start); elapsed > tt.timeout+2*time.Second {
				t.Errorf("check took %v, want it bounded by the %v timeout", elapsed, tt.timeout)
			}
			if r.Component != "kubelet" || c.Component() != "kubelet" || r.Check != "GET "+tt.url {
				t.Errorf("component %q / %q, check %q", r.Component, c.Component(), r.Check)
			}
			if r.Healthy != tt.healthy || !strings.Contains(r.Message, tt.wantMessage) || (tt.healthy && r.Message != "") {
				t.Errorf("Check = healthy %v, message %q; want healthy %v, message containing %q", r.Healthy, r.Message, tt.healthy, tt.wantMessage)
			}
			if r.Latency <= 0 || r.Latency > time.Since(start) {
				t.Errorf("latency %v out of range", r.Latency)
			}
		})
	}
}

func TestKubeletDefaultURL(t *testing.T) {
	if got := Kubelet("", time.Second).Check(context.Background()).Check; got != "GET "+DefaultKubeletURL {
		t.Errorf("Check = %q, want GET %s", got, DefaultKubeletURL)
	}
}

// unixServer serves h on a unix socket, as dockerd does.
func unixServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nwdock")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { srv.Close(); os.RemoveAll(dir) })
	return sock
}

func TestDocker(t *testing.T) {
	var pings atomic.Int32
	okSock := unixServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		pings.Add(1)
		w.Header().Set("Api-Version", "1.43")
		_, _ = w.Write([]byte("OK"))
	})
	badSock := unixServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "daemon is shutting down", http.StatusServiceUnavailable)
	})
	missing := filepath.Join(t.TempDir(), "absent.sock")

	tests := []struct {
		name, socket string
		healthy      bool
		wantMessage  string
	}{
		{name: "ping OK", socket: okSock, healthy: true},
		{name: "unix URL", socket: "unix://" + okSock, healthy: true},
		{name: "503", socket: badSock, wantMessage: "status 503: daemon is shutting down"},
		{name: "no socket", socket: missing, wantMessage: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Docker(tt.socket, 2*time.Second).Check(context.Background())
			if r.Healthy != tt.healthy || !strings.Contains(r.Message, tt.wantMessage) {
				t.Errorf("Check = healthy %v, message %q; want healthy %v, message containing %q", r.Healthy, r.Message, tt.healthy, tt.wantMessage)
			}
			if r.Component != "docker" || r.Check != "GET /_ping on unix://"+strings.TrimPrefix(tt.socket, "unix://") {
				t.Errorf("component %q, check %q", r.Component, r.Check)
			}
		})
	}
	if n := pings.Load(); n != 2 {
		t.Errorf("server saw %d pings, want 2", n)
	}
}

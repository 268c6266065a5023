package testenv

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Provision provisions the default streams and buckets (replicas 1) on the server.
func (j *JetStream) Provision(t testing.TB) {
	t.Helper()
	_, js := j.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := topology.Provision(ctx, js, topology.DefaultSettings(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("provision: %v", err)
	}
}

// Common is a service's common configuration for a test: this server, default prefix, a free
// loopback HTTP port, logs to the test log only on failure (discarded here for brevity).
func Common(url string) daemon.Common {
	return daemon.Common{
		NATS:            natsconn.Options{URL: url, MaxReconnectWait: time.Second},
		Prefix:          "nw",
		HTTPAddr:        "127.0.0.1:0",
		Log:             daemon.LogOptions{Format: "text", Level: "info"},
		ShutdownTimeout: 5 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// RunService runs a service in the background with a Common for url until the test ends,
// waits until its /readyz answers 200 and returns its HTTP base URL. At cleanup it cancels the
// service and fails the test unless Run returns nil within 10 s.
func RunService(t testing.TB, url string, run func(ctx context.Context, c daemon.Common) error) string {
	t.Helper()
	c := Common(url)
	addr := make(chan string, 1)
	c.OnListen = func(_, a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service Run returned %v after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("service Run did not return within 10s of cancel")
		}
	})
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("service stopped before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service not listening after 10s")
	}
	WaitFor(t, 15*time.Second, base+"/readyz to answer 200", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// CheckServiceStarts is every service's smoke test: against a fresh provisioned server the
// service becomes ready, serves /metrics with its build info, and stops cleanly at cleanup.
func CheckServiceStarts(t testing.TB, name string, run func(ctx context.Context, c daemon.Common) error) {
	t.Helper()
	srv := StartJetStream(t)
	srv.Provision(t)
	base := RunService(t, srv.URL(), run)
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := `nodewarden_build_info{service="` + name + `"`; !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %s:\n%s", want, body)
	}
}

package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

type cfg struct {
	daemon.Common
	Interval time.Duration
}

func (c *cfg) AddFlags(fs *flag.FlagSet) {
	c.Common.AddFlags(fs, "127.0.0.1:0")
	fs.DurationVar(&c.Interval, "interval", time.Second, "how often")
}

func (c *cfg) Validate() error {
	if c.Interval <= 0 {
		return errors.New("unreachable in this test")
	}
	return c.Common.Validate()
}

func TestExecuteExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, daemon.ExitOK, "NW_NATS_URL", ""},
		{"version", []string{"--version"}, daemon.ExitOK, "svc dev", ""},
		{"bad duration", []string{"--interval=soon"}, daemon.ExitConfig, "", "interval"},
		{"bad log format", []string{"--log-format=xml"}, daemon.ExitConfig, "", `"xml" for flag --log-format`},
		{"bad nats url", []string{"--nats-url=::"}, daemon.ExitConfig, "", "--nats-url"},
		{"bad prefix", []string{"--subject-prefix=a.>"}, daemon.ExitConfig, "", "--subject-prefix"},
		{"run fails", []string{}, daemon.ExitFailed, "", "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			var c cfg
			code := daemon.Execute(context.Background(), "svc", "a test service", tt.args, &out, &errOut, &c,
				func(context.Context) error { return errors.New("boom") })
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderr) {
				t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
			}
		})
	}
}

func get(t *testing.T, url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A service is not ready until its streams exist, becomes ready once they are provisioned, and
// exposes its NATS state in /metrics.
func TestRuntimeReadiness(t *testing.T) {
	srv := testenv.StartJetStream(t)
	common, addr := testCommon(srv.URL())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		rt  *daemon.Runtime
		err error
	}
	started := make(chan result, 1)
	go func() {
		rt, err := daemon.Start(ctx, "svc", common, topology.Needs{Streams: []string{topology.StreamEvents}, Buckets: []string{topology.BucketConditions}})
		started <- result{rt, err}
	}()
	base := "http://" + <-addr
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before provisioning = %d %s", code, body)
	}
	_, js := srv.Connect(t)
	if _, err := topology.Provision(ctx, js, topology.DefaultSettings(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("Start did not return after provisioning")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	testenv.WaitFor(t, 5*time.Second, "/readyz 200", func() bool { code, _ := get(t, base+"/readyz"); return code == http.StatusOK })
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "nodewarden_nats_connected 1") {
		t.Fatalf("/metrics lacks the connection gauge:\n%s", body)
	}
	r.rt.AddDetail("logs", func() string { return "kmsg unreadable" })
	r.rt.AddDetail("quiet", func() string { return "" })
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ok\nlogs: kmsg unreadable\n" {
		t.Fatalf("/readyz with a detail = %d %q, want 200 naming the detail only", code, body)
	}
	r.rt.AddReadiness("output", func() error { return errors.New("influx down") })
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "influx down") {
		t.Fatalf("/readyz with a failing check = %d %s", code, body)
	}
	r.rt.Close()
	if r.rt.Conn.IsConnected() {
		t.Fatal("still connected after Close")
	}
	if code, _ := get(t, base+"/healthz"); code != 0 {
		t.Fatalf("/healthz still answers after Close: %d", code)
	}
}

// Incompatible streams stop the start with a clear error.
func TestRuntimeIncompatible(t *testing.T) {
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	s := topology.DefaultSettings()
	s.Prefix = "other"
	if _, err := topology.Provision(ctx, js, s, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	common := daemon.Common{HTTPAddr: "127.0.0.1:0", Prefix: "nw", ShutdownTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Log: daemon.LogOptions{Format: "json", Level: "info"}}
	common.NATS.URL = srv.URL()
	common.NATS.MaxReconnectWait = time.Second
	_, err := daemon.Start(ctx, "svc", common, topology.Needs{Streams: []string{topology.StreamEvents}})
	if !errors.Is(err, topology.ErrIncompatible) || !strings.Contains(err.Error(), "EVENTS") {
		t.Fatalf("Start = %v, want ErrIncompatible naming EVENTS", err)
	}
}

// Profiles are served only when asked for: they show the process's internals.
func TestRuntimePprofOptIn(t *testing.T) {
	srv := testenv.StartJetStream(t)
	for _, tt := range []struct {
		pprof bool
		want  int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		common, addr := testCommon(srv.URL())
		common.Pprof = tt.pprof
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			// Not provisioned: Start waits for the streams, serving HTTP meanwhile.
			rt, err := daemon.Start(ctx, "svc", common, topology.Needs{Streams: []string{topology.StreamEvents}})
			if err == nil {
				rt.Close()
			}
			done <- err
		}()
		var base string
		select {
		case a := <-addr:
			base = "http://" + a
		case err := <-done:
			t.Fatalf("Start returned before listening: %v", err)
		}
		if code, _ := get(t, base+"/debug/pprof/"); code != tt.want {
			t.Errorf("pprof %v: /debug/pprof/ = %d, want %d", tt.pprof, code, tt.want)
		}
		cancel()
		<-done
	}
}

// testCommon is a valid Common for url on any free port; addr receives where it listens.
func testCommon(url string) (daemon.Common, chan string) {
	addr := make(chan string, 1)
	common := daemon.Common{HTTPAddr: "127.0.0.1:0", Prefix: "nw", ShutdownTimeout: 5 * time.Second,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnListen: func(_, a string) { addr <- a }}
	common.NATS.URL = url
	common.NATS.MaxReconnectWait = time.Second
	common.Log = daemon.LogOptions{Format: "text", Level: "info"}
	return common, addr
}

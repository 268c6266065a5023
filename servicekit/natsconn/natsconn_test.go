package natsconn_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

func TestValidate(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(creds, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := natsconn.Options{URL: "nats://127.0.0.1:4222", MaxReconnectWait: time.Second}
	tests := []struct {
		name string
		mod  func(*natsconn.Options)
		flag string // "" = valid
	}{
		{"default", func(*natsconn.Options) {}, ""},
		{"several urls", func(o *natsconn.Options) { o.URL = "nats://a:4222, tls://b:4222" }, ""},
		{"creds file", func(o *natsconn.Options) { o.CredsFile = creds }, ""},
		{"empty url", func(o *natsconn.Options) { o.URL = "" }, "--nats-url"},
		{"no host", func(o *natsconn.Options) { o.URL = "nats://" }, "--nats-url"},
		{"http scheme", func(o *natsconn.Options) { o.URL = "http://a:4222" }, "--nats-url"},
		{"missing creds", func(o *natsconn.Options) { o.CredsFile = "/nonexistent/user.creds" }, "--nats-creds"},
		{"creds and user", func(o *natsconn.Options) { o.CredsFile = creds; o.User = "u" }, "--nats-user"},
		{"cert without key", func(o *natsconn.Options) { o.CertFile = creds }, "--nats-tls-cert"},
		{"zero reconnect wait", func(o *natsconn.Options) { o.MaxReconnectWait = 0 }, "--nats-max-reconnect-wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mod(&o)
			err := o.Validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !config.IsConfigError(err) || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("Validate = %v, want a config error naming %s", err, tt.flag)
			}
		})
	}
}

// The connection comes back by itself after a server restart, and the metrics say so.
func TestReconnectsAfterRestart(t *testing.T) {
	srv := testenv.StartJetStream(t)
	reg := prometheus.NewRegistry()
	nc, err := natsconn.Connect(natsconn.Options{URL: srv.URL(), MaxReconnectWait: 200 * time.Millisecond},
		"test", slog.New(slog.NewTextHandler(io.Discard, nil)), natsconn.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testenv.WaitFor(t, 5*time.Second, "connected", nc.IsConnected)
	srv.Restart()
	testenv.WaitFor(t, 15*time.Second, "a reconnect", func() bool { return nc.IsConnected() && nc.Reconnects > 0 })
	want := "# HELP nodewarden_nats_reconnects_total Reconnections to NATS.\n# TYPE nodewarden_nats_reconnects_total counter\nnodewarden_nats_reconnects_total 1\n"
	testenv.WaitFor(t, 5*time.Second, "the reconnect counted", func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(want), "nodewarden_nats_reconnects_total") == nil
	})
}

// Connect returns at once, without an error, when no server is up yet: a daemon started before
// its server keeps retrying instead of crash-looping.
func TestConnectBeforeServer(t *testing.T) {
	nc, err := natsconn.Connect(natsconn.Options{URL: "nats://127.0.0.1:1", MaxReconnectWait: 100 * time.Millisecond},
		"test", slog.New(slog.NewTextHandler(io.Discard, nil)), natsconn.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatalf("Connect without a server: %v", err)
	}
	defer nc.Close()
	if nc.IsConnected() {
		t.Fatal("connected to nothing")
	}
}

package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	amclient "github.com/prometheus/alertmanager/api/v2/client"
)

const alertmanagerStartTimeout = 60 * time.Second

// alertmanagerConfig routes every alert to a receiver that notifies nobody: tests read alerts
// back through the API. The short group_wait and group_interval make grouping visible in
// seconds.
const alertmanagerConfig = `route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
`

// Alertmanager is a running Alertmanager, a single instance with clustering off.
type Alertmanager struct {
	// URL is the web and API address, e.g. http://127.0.0.1:41234.
	URL string

	host string // host:port, for the API client's transport
	t    testing.TB
	bin  string
	dir  string
	conf string
	proc *process
}

// StartAlertmanager starts /usr/bin/prometheus-alertmanager on a free loopback port with a
// null-receiver configuration and storage in a temp dir, waits for /-/ready, and stops it
// when the test ends.
func StartAlertmanager(t testing.TB) *Alertmanager {
	t.Helper()
	bin := requireBinary(t, alertmanagerBin, "alertmanager (Debian package prometheus-alertmanager)")
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	host := fmt.Sprintf("127.0.0.1:%d", port)
	conf := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(conf, []byte(alertmanagerConfig), 0o600); err != nil {
		t.Fatalf("testenv: write alertmanager config: %v", err)
	}

	am := &Alertmanager{URL: "http://" + host, host: host, t: t, bin: bin, dir: dir, conf: conf}
	am.Start(t)
	return am
}

// Start starts the server (again, after Stop) with empty storage, as an Alertmanager without
// persistence comes back: it knows no alert until someone posts it again.
func (a *Alertmanager) Start(t testing.TB) {
	t.Helper()
	if a.proc != nil {
		select {
		case <-a.proc.done:
		default:
			t.Fatalf("testenv: alertmanager at %s is already running", a.URL)
		}
	}
	if err := os.RemoveAll(filepath.Join(a.dir, "data")); err != nil {
		t.Fatalf("testenv: clear alertmanager storage: %v", err)
	}
	start := time.Now()
	// Registered on the StartAlertmanager test, so its cleanup stops the server even when a
	// subtest restarted it.
	a.proc = startProcess(a.t, "alertmanager", a.dir, a.bin,
		"--config.file="+a.conf,
		"--storage.path="+filepath.Join(a.dir, "data"),
		"--web.listen-address="+a.host,
		// An empty address turns gossip off: no fixed port 9094 to collide on, and a single
		// instance is ready at once instead of waiting for peers to settle.
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	hc := &http.Client{Timeout: 10 * time.Second}
	a.proc.waitReady(t, alertmanagerStartTimeout, func(ctx context.Context) error {
		return httpCheck(ctx, hc, http.MethodGet, a.URL+"/-/ready", nil, http.StatusOK)
	})
	t.Logf("testenv: alertmanager ready at %s in %s", a.URL, time.Since(start).Round(time.Millisecond))
}

// Stop stops the server and waits for it to exit; posts fail with connection refused meanwhile.
func (a *Alertmanager) Stop() {
	a.t.Helper()
	a.proc.stop(a.t)
	a.proc.logShown = true // a deliberate stop, not a crash worth quoting the log for
}

// Client returns an Alertmanager API v2 client for this server.
func (a *Alertmanager) Client() *amclient.AlertmanagerAPI {
	cfg := amclient.DefaultTransportConfig().
		WithHost(a.host).
		WithBasePath("/api/v2").
		WithSchemes([]string{"http"})
	return amclient.NewHTTPClientWithConfig(nil, cfg) // nil formats means strfmt.Default
}

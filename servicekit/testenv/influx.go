package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	// InfluxDatabase is the database StartInflux creates.
	InfluxDatabase = "nodewarden"
	// InfluxRetentionPolicy is the retention policy of InfluxDatabase.
	InfluxRetentionPolicy = "autogen"

	influxStartTimeout = 60 * time.Second
)

// Influx is a running InfluxDB 1.8.10 with one database and no authentication.
type Influx struct {
	// URL is the HTTP API, e.g. http://127.0.0.1:41234.
	URL string
	// Database is the database created for the test.
	Database string
	// Bucket is Database/RetentionPolicy, the bucket name InfluxDB 1.8's /api/v2/write
	// accepts, so clients written for InfluxDB 2.x work unchanged (org "", token "").
	Bucket string

	http *http.Client
	// What Start needs to run the same server again.
	bin, dir, conf string
	proc           *process
	t              testing.TB
}

// InfluxSeries is one series of an InfluxQL result, as /query returns it. Values keep
// numbers as json.Number so that integer fields keep all 64 bits; times are RFC 3339 strings.
type InfluxSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// StartInflux starts InfluxDB on free loopback ports with its data in a temp dir, waits for
// /ping, creates Database, and stops the server when the test ends.
func StartInflux(t testing.TB) *Influx {
	t.Helper()
	bin := influxdPath(t)
	dir := t.TempDir()
	ports := freePorts(t, 2) // RPC bind-address (backup/restore), HTTP
	conf := filepath.Join(dir, "influxdb.conf")
	// Everything that would write outside dir, open another port or phone home is off.
	config := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %q

[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  auth-enabled = false
  log-enabled = false

[logging]
  level = "warn"
`, ports[0], filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), ports[1])
	if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
		t.Fatalf("testenv: write influxdb config: %v", err)
	}

	in := &Influx{
		URL:      fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		Database: InfluxDatabase,
		Bucket:   InfluxDatabase + "/" + InfluxRetentionPolicy,
		http:     &http.Client{Timeout: 10 * time.Second},
		bin:      bin, dir: dir, conf: conf, t: t,
	}
	in.Start(t)

	stmt := fmt.Sprintf("CREATE DATABASE %q WITH NAME %q", in.Database, InfluxRetentionPolicy)
	if _, err := in.query(context.Background(), "", stmt); err != nil {
		t.Fatalf("testenv: create influxdb database: %v", err)
	}
	return in
}

// Start starts the server again after Stop, on the same ports with the same data, and waits
// until it answers /ping. StartInflux calls it for the first start.
func (in *Influx) Start(t testing.TB) {
	t.Helper()
	if in.proc != nil {
		select {
		case <-in.proc.done:
		default:
			t.Fatalf("testenv: influxd at %s is already running", in.URL)
		}
	}
	start := time.Now()
	// Registered on the StartInflux test, so that the cleanup stops it before the data dir
	// is removed even when a subtest restarts it.
	in.proc = startProcess(in.t, "influxd", in.dir, in.bin, "run", "-config", in.conf)
	in.proc.waitReady(t, influxStartTimeout, func(ctx context.Context) error {
		return httpCheck(ctx, in.http, http.MethodGet, in.URL+"/ping", nil, http.StatusNoContent)
	})
	t.Logf("testenv: influxd ready at %s in %s", in.URL, time.Since(start).Round(time.Millisecond))
}

// Stop stops the server (SIGTERM, then SIGKILL after a grace period) and waits for it to
// exit; the data stays for Start. Writes fail with connection refused meanwhile.
func (in *Influx) Stop() {
	in.t.Helper()
	in.proc.stop(in.t)
	in.proc.logShown = true // a deliberate stop, not a crash worth quoting the log for
}

// Query runs InfluxQL against Database and returns the series of its (single) statement,
// failing the test on any error, including one InfluxDB reports inside the result.
func (in *Influx) Query(t testing.TB, influxql string) []InfluxSeries {
	t.Helper()
	series, err := in.query(context.Background(), in.Database, influxql)
	if err != nil {
		t.Fatalf("testenv: influxdb query %q: %v", influxql, err)
	}
	return series
}

// query POSTs to /query (POST, since InfluxDB refuses CREATE and friends over GET) and
// decodes the response.
func (in *Influx) query(ctx context.Context, db, influxql string) ([]InfluxSeries, error) {
	form := url.Values{"q": {influxql}}
	if db != "" {
		form.Set("db", db)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("build query request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := in.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post /query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read /query response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("post /query: status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out struct {
		Results []struct {
			Series []InfluxSeries `json:"series"`
			Error  string         `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode /query response %q: %w", body, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influxdb: %s", out.Error)
	}
	var series []InfluxSeries
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxdb: %s", r.Error)
		}
		series = append(series, r.Series...)
	}
	return series, nil
}

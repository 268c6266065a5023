package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const (
	// PrometheusTargetsJob is the job label of PrometheusOptions.ScrapeTargets.
	PrometheusTargetsJob = "nodewarden"
	// PrometheusSelfJob is the job label of Prometheus scraping its own /metrics.
	PrometheusSelfJob = "prometheus"

	prometheusStartTimeout = 60 * time.Second
)

// PrometheusOptions configures StartPrometheus. The zero value is a Prometheus that scrapes
// only itself every second.
type PrometheusOptions struct {
	// ScrapeTargets are host:port addresses whose /metrics are scraped under job
	// PrometheusTargetsJob.
	ScrapeTargets []string
	// ScrapeInterval is the scrape and rule evaluation interval; zero means one second, so
	// tests wait for data in seconds, not Prometheus's default minute.
	ScrapeInterval time.Duration
	// RuleFiles are paths of recording and alerting rule files to load, e.g. "testdata/x.yml".
	RuleFiles []string
}

// Prometheus is a running Prometheus server.
type Prometheus struct {
	// URL is the web and API address, e.g. http://127.0.0.1:41234.
	URL string

	http *http.Client
}

// PromSample is one element of an instant vector.
type PromSample struct {
	Metric map[string]string
	Time   time.Time
	Value  float64
}

// StartPrometheus starts /usr/bin/prometheus on a free loopback port with a generated
// configuration and its TSDB in a temp dir, waits for /-/ready, and stops it when the test ends.
// The first samples arrive about 5 s after start whatever the scrape interval, because
// Prometheus (2.42) applies discovered targets on a fixed 5 s tick; use WaitQuery.
func StartPrometheus(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := requireBinary(t, prometheusBin, "prometheus (Debian package)")
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	interval := opts.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}

	// Prometheus resolves rule files against the config file's directory, a temp dir:
	// make them absolute so paths relative to the test's package work.
	ruleFiles := make([]string, 0, len(opts.RuleFiles))
	for _, f := range opts.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatalf("testenv: prometheus rule file %s: %v", f, err)
		}
		ruleFiles = append(ruleFiles, abs)
	}

	// JSON is YAML, and json.Marshal quotes paths and targets correctly whatever they hold.
	type staticConfig struct {
		Targets []string `json:"targets"`
	}
	type scrapeConfig struct {
		JobName       string         `json:"job_name"`
		StaticConfigs []staticConfig `json:"static_configs"`
	}
	scrapes := []scrapeConfig{{JobName: PrometheusSelfJob, StaticConfigs: []staticConfig{{Targets: []string{addr}}}}}
	if len(opts.ScrapeTargets) > 0 {
		scrapes = append(scrapes, scrapeConfig{JobName: PrometheusTargetsJob, StaticConfigs: []staticConfig{{Targets: opts.ScrapeTargets}}})
	}
	config, err := json.Marshal(map[string]any{
		"global": map[string]string{
			"scrape_interval":     model(interval),
			"scrape_timeout":      model(interval),
			"evaluation_interval": model(interval),
		},
		"rule_files":     ruleFiles,
		"scrape_configs": scrapes,
	})
	if err != nil {
		t.Fatalf("testenv: encode prometheus config: %v", err)
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, config, 0o600); err != nil {
		t.Fatalf("testenv: write prometheus config: %v", err)
	}

	start := time.Now()
	p := startProcess(t, "prometheus", dir, bin,
		"--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	pr := &Prometheus{URL: "http://" + addr, http: &http.Client{Timeout: 10 * time.Second}}
	p.waitReady(t, prometheusStartTimeout, func(ctx context.Context) error {
		return httpCheck(ctx, pr.http, http.MethodGet, pr.URL+"/-/ready", nil, http.StatusOK)
	})
	t.Logf("testenv: prometheus ready at %s in %s", pr.URL, time.Since(start).Round(time.Millisecond))
	return pr
}

// model formats d as a Prometheus duration ("1500ms"); Go's "1.5s" is not one.
func model(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Query evaluates an instant PromQL query now through /api/v1/query and returns its vector.
// A scalar result comes back as one sample without labels.
func (p *Prometheus) Query(ctx context.Context, promql string) ([]PromSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?"+url.Values{"query": {promql}}.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("build prometheus query: %w", err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", promql, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read prometheus query response: %w", err)
	}
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("prometheus query %q: status %d, decode %q: %w", promql, resp.StatusCode, body, err)
	}
	if out.Status != "success" {
		err := fmt.Errorf("prometheus query %q: status %d: %s", promql, resp.StatusCode, out.Error)
		if resp.StatusCode == http.StatusBadRequest {
			err = fmt.Errorf("%w: %w", errBadQuery, err)
		}
		return nil, err
	}
	switch out.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(out.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("prometheus query %q: decode vector: %w", promql, err)
		}
		samples := make([]PromSample, 0, len(vec))
		for _, v := range vec {
			s, err := promSample(v.Metric, v.Value)
			if err != nil {
				return nil, fmt.Errorf("prometheus query %q: %w", promql, err)
			}
			samples = append(samples, s)
		}
		return samples, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(out.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("prometheus query %q: decode scalar: %w", promql, err)
		}
		s, err := promSample(map[string]string{}, v)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %q: %w", promql, err)
		}
		return []PromSample{s}, nil
	default:
		return nil, fmt.Errorf("prometheus query %q: result type %q, want vector or scalar", promql, out.Data.ResultType)
	}
}

// WaitQuery runs promql until done accepts its result, and returns that result. It is how a
// test waits for a scrape or a rule evaluation; a ctx without deadline gets a default one.
func (p *Prometheus) WaitQuery(ctx context.Context, promql string, done func([]PromSample) bool) ([]PromSample, error) {
	var last []PromSample
	err := poll(ctx, "prometheus query "+promql, func(ctx context.Context) (bool, error) {
		s, err := p.Query(ctx, promql)
		if errors.Is(err, errBadQuery) {
			return false, err // asking again cannot help
		}
		if err != nil {
			return false, fmt.Errorf("%w: %w", errNotYet, err)
		}
		last = s
		if !done(s) {
			return false, fmt.Errorf("%w: result %v", errNotYet, s)
		}
		return true, nil
	})
	return last, err
}

// errBadQuery marks a query Prometheus rejects as malformed (HTTP 400, bad_data).
var errBadQuery = errors.New("bad query")

// promSample decodes the API's [unix seconds, "value"] pair.
func promSample(metric map[string]string, v [2]any) (PromSample, error) {
	ts, ok := v[0].(float64)
	if !ok {
		return PromSample{}, fmt.Errorf("sample time %v is not a number", v[0])
	}
	str, ok := v[1].(string)
	if !ok {
		return PromSample{}, fmt.Errorf("sample value %v is not a string", v[1])
	}
	val, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return PromSample{}, fmt.Errorf("sample value %q: %w", str, err)
	}
	sec, frac := math.Modf(ts)
	return PromSample{
		Metric: metric,
		Time:   time.Unix(int64(sec), int64(math.Round(frac*1e9))),
		Value:  val,
	}, nil
}

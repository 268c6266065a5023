package testenv_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

func TestPrometheusScrapesAndEvaluatesRules(t *testing.T) {
	stopped := expectStopped(t)

	reg := prometheus.NewRegistry()
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: "nodewarden_testenv_probe", Help: "Test value."})
	probe.Set(7)
	reg.MustRegister(probe)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer target.Close()

	rules := filepath.Join(t.TempDir(), "rules.yml")
	const rule = `groups:
  - name: testenv
    rules:
      - alert: TestenvProbeHigh
        expr: nodewarden_testenv_probe > 5
`
	if err := os.WriteFile(rules, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}

	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		ScrapeTargets:  []string{target.Listener.Addr().String()},
		ScrapeInterval: 500 * time.Millisecond,
		RuleFiles:      []string{rules},
	})
	stopped(p.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	one := func(s []testenv.PromSample) bool { return len(s) == 1 && s[0].Value == 1 }
	up, err := p.WaitQuery(ctx, `up{job="prometheus"}`, one)
	if err != nil {
		t.Fatalf("self-scrape: %v", err)
	}
	if since := time.Since(up[0].Time); since < 0 || since > time.Minute {
		t.Errorf("sample time %s is not now", up[0].Time)
	}
	if _, err := p.WaitQuery(ctx, `nodewarden_testenv_probe{job="`+testenv.PrometheusTargetsJob+`"} == 7`,
		func(s []testenv.PromSample) bool { return len(s) == 1 }); err != nil {
		t.Fatalf("scrape target: %v", err)
	}
	if _, err := p.WaitQuery(ctx, `ALERTS{alertname="TestenvProbeHigh",alertstate="firing"}`, one); err != nil {
		t.Fatalf("rule file: %v", err)
	}
	if _, err := p.WaitQuery(ctx, `up{`, one); err == nil || ctx.Err() != nil {
		t.Errorf("a malformed query: err = %v, want an error at once", err)
	}
}

package alerter_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/client/alert"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/services/alerter"
)

// BenchmarkConditionToAlert measures the latency: a condition turning True in
// NW_CONDITIONS → the alert visible in Alertmanager's API, while 1,000 other nodes' conditions
// change in the background (200 changes/s). Target: p99 under 500 ms. The baseline is a bare
// GetAlerts round trip to the same Alertmanager, the resolution of the measurement.
func BenchmarkConditionToAlert(b *testing.B) {
	e := newEnv(b, nil)
	withDefaults := e.cfg
	e.cfg = func() alerter.Config {
		c := withDefaults()
		// As deployed: straight to Alertmanager (the tests' recording proxy keeps and decodes
		// every post) and the default resend interval (the tests' 2 s re-posts all 1,000
		// background alerts every 2 s).
		c.AM.URLs = []string{e.am.URL}
		c.ResendInterval = time.Minute
		return c
	}
	e.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var changes atomic.Int64
	go func() { // background: 1,000 nodes toggling KernelDeadlock
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n := fmt.Sprintf("bg-%04d.cluster.internal", i%1000)
			status := conditions.True
			if (i/1000)%2 == 1 {
				status = conditions.False
			}
			e.setQuiet(n, "KernelDeadlock", status, "DockerHung")
			changes.Add(1)
		}
	}()
	probe := "probe.cluster.internal"
	visible := func(want bool) bool {
		resp, err := e.am.Client().Alert.GetAlerts(alert.NewGetAlertsParams().WithFilter([]string{"alertname=ReadonlyFilesystem", "node=" + probe}))
		return err == nil && (len(resp.GetPayload()) > 0) == want
	}
	wait := func(want bool) time.Time {
		deadline := time.After(30 * time.Second)
		tick := time.NewTicker(2 * time.Millisecond) // the measurement's resolution
		defer tick.Stop()
		for !visible(want) {
			select {
			case <-deadline:
				b.Fatalf("alert visible=%t not reached in 30 s", want)
			case <-tick.C:
			}
		}
		return time.Now()
	}
	var lat, base []time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		e.setQuiet(probe, "ReadonlyFilesystem", conditions.True, "FilesystemIsReadOnly")
		lat = append(lat, wait(true).Sub(t0))
		e.setQuiet(probe, "ReadonlyFilesystem", conditions.False, "FilesystemIsReadOnly")
		wait(false)
	}
	b.StopTimer()
	for range 50 {
		t0 := time.Now()
		visible(false)
		base = append(base, time.Since(t0))
	}
	p := func(d []time.Duration, q float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(lat, 0.5), "p50-ms")
	b.ReportMetric(p(lat, 0.99), "p99-ms")
	b.ReportMetric(p(base, 0.99), "baseline-getalerts-p99-ms")
	b.ReportMetric(float64(changes.Load())/b.Elapsed().Seconds(), "bg-changes/s")
}

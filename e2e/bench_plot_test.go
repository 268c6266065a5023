package e2e

import (
	"fmt"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotLatency draws p50 and p99 of kmsg line → Problem and → alert against cluster size
// (containers in the simulated cluster), for the runs with InfluxDB off and on, to file (PNG).
func plotLatency(file string, off, on capResult) error {
	p := plot.New()
	p.Title.Text = "nodewarden end-to-end latency against cluster size"
	p.X.Label.Text = "simulated containers (nodes × containers, 10 s interval)"
	p.Y.Label.Text = "latency (ms)"
	p.Legend.Top = true
	p.Legend.Left = true

	var args []any
	for _, c := range []capResult{off, on} {
		mode := "InfluxDB off"
		if c.influx {
			mode = "InfluxDB on"
		}
		for _, s := range []struct {
			name string
			get  func(latencies) []time.Duration
			q    float64
		}{
			{"line→Problem p50", func(l latencies) []time.Duration { return l.problem }, 0.5},
			{"line→Problem p99", func(l latencies) []time.Duration { return l.problem }, 0.99},
			{"line→alert p50", func(l latencies) []time.Duration { return l.alert }, 0.5},
			{"line→alert p99", func(l latencies) []time.Duration { return l.alert }, 0.99},
		} {
			var xys plotter.XYs
			for _, st := range c.steps {
				if d := s.get(st.lat); len(d) > 0 {
					xys = append(xys, plotter.XY{X: float64(st.size.nodes * st.size.containers), Y: msf(quantile(d, s.q))})
				}
			}
			if len(xys) > 0 {
				args = append(args, fmt.Sprintf("%s, %s", s.name, mode), xys)
			}
		}
	}
	if len(args) == 0 {
		p.Title.Text += " (no latency measured)"
	} else if err := plotutil.AddLinePoints(p, args...); err != nil {
		return fmt.Errorf("add lines: %w", err)
	}
	if err := p.Save(24*vg.Centimeter, 15*vg.Centimeter, file); err != nil {
		return fmt.Errorf("save %s: %w", file, err)
	}
	return nil
}

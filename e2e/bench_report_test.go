package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The processes whose CPU the capacity rows report, in table order.
var cpuOrder = []string{"NATS server", "detector", "sink", "alerter", "InfluxDB", "Alertmanager"}

// influxCPUPerPoint is InfluxDB 1.8's CPU per point on this machine as issue 10 states it: the
// yardstick for "InfluxDB itself is the bottleneck".
const influxCPUPerPoint = 28 * time.Microsecond

// reportStep is the step the CPU rows describe: the largest that held, else the
// first one tried.
func reportStep(c capResult) (stepResult, bool) {
	if s, ok := c.best(); ok {
		return s, true
	}
	if len(c.steps) > 0 {
		return c.steps[0], true
	}
	return stepResult{}, false
}

// latencyRows are the end-to-end latencies through the real processes, InfluxDB off, at the
// smallest size (a cluster the machine carries easily) and at the largest size that held (the
// machine near its limit, where the tail grows); the baseline is the bus's own round trip.
func latencyRows(c capResult, js jsResult) []row {
	var steps []stepResult
	if len(c.steps) > 0 {
		steps = append(steps, c.steps[0])
	}
	if s, ok := c.best(); ok && (len(steps) == 0 || s.size != steps[0].size) {
		steps = append(steps, s)
	}
	figs := []struct {
		name string
		get  func(latencies) []time.Duration
	}{
		{"kmsg line written → Problem on the bus", func(l latencies) []time.Duration { return l.problem }},
		{"kmsg line written → Alertmanager alert visible", func(l latencies) []time.Duration { return l.alert }},
		{"kmsg line written → Slack message received", func(l latencies) []time.Duration { return l.slack }},
	}
	var rows []row
	if len(steps) == 0 {
		for _, f := range figs {
			rows = append(rows, row{Figure: "e2e: " + f.name, Value: "no result " + c.err, Target: "p99 <1 s", Met: "n/a"})
		}
		return rows
	}
	for _, s := range steps {
		for _, f := range figs {
			fig := fmt.Sprintf("e2e: %s (%s @10 s, InfluxDB off)", f.name, s.size)
			d := f.get(s.lat)
			if len(d) == 0 {
				rows = append(rows, row{Figure: fig, Value: fmt.Sprintf("no probe completed (%d timed out)", s.lat.failed), Target: "p99 <1 s", Met: "n/a"})
				continue
			}
			p99 := quantile(d, 0.99)
			rows = append(rows, row{
				Figure:   fig,
				Value:    fmt.Sprintf("p50 %s, p99 %s (%d probes, %d timed out)", ms(quantile(d, 0.5)), ms(p99), len(d), s.lat.failed),
				Baseline: fmt.Sprintf("JetStream round trip p99 %.2f ms", msf(js.latP99)), Ratio: ratio(float64(p99), float64(js.latP99), "×"),
				Target: "p99 <1 s", Met: yesNo(p99 < time.Second && s.lat.failed == 0),
			})
		}
	}
	return rows
}

// capacityRows are the largest sustained cluster with InfluxDB off and on, and the CPU each
// process spent per 1,000 container samples there.
func capacityRows(cfg capConfig, js jsResult, off, on capResult) []row {
	var rows []row
	for _, c := range []capResult{off, on} {
		mode := "InfluxDB off"
		target := "10,000 × 50"
		if c.influx {
			mode, target = "InfluxDB on", "InfluxDB the bottleneck"
		}
		fig := fmt.Sprintf("largest cluster sustained, %s (nodes × containers @%s, <1%% backlog growth, %s windows)", mode, cfg.interval, cfg.window)
		best, ok := c.best()
		if !ok {
			why := c.err
			if len(c.steps) > 0 {
				why = fmt.Sprintf("not even %s: %s", c.steps[0].size, c.steps[0].why)
			}
			rows = append(rows, row{Figure: fig, Value: why, Target: target, Met: yesNo(false)})
		} else {
			samplesPerSec := float64(best.size.nodes*best.size.containers) / cfg.interval.Seconds()
			busNodes := busBoundNodes(js, best, cfg)
			value := fmt.Sprintf("%s (%s)", best.size, rate(samplesPerSec, "container samples/s"))
			tried := cfg.sizes
			if c.influx {
				tried = cfg.influxSizes
			}
			if best.size == tried[len(tried)-1] {
				value += ", the largest size tried"
			}
			r := row{Figure: fig, Value: value,
				Baseline: fmt.Sprintf("raw bus alone: ~%d × %d", busNodes, best.size.containers),
				Ratio:    ratio(float64(best.size.nodes), float64(busNodes), "×"), Target: target}
			if c.influx {
				r.Met = yesNo(influxIsBottleneck(best))
			} else {
				r.Met = yesNo(best.size.nodes*best.size.containers >= 10000*50)
			}
			rows = append(rows, r)
		}
		s, ok := reportStep(c)
		if !ok {
			continue
		}
		var parts []string
		var ours float64
		for _, name := range cpuOrder {
			if v, ok := s.cpuPer1k(name); ok {
				parts = append(parts, fmt.Sprintf("%s %.4f", name, v))
				if name == "detector" || name == "sink" || name == "alerter" {
					ours = max(ours, v)
				}
			}
		}
		r := row{Figure: fmt.Sprintf("CPU s per 1,000 container samples, %s (@%s)", mode, s.size), Value: strings.Join(parts, ", "),
			Baseline: "—", Ratio: "—", Target: "—", Met: "—"}
		if c.influx {
			yard := influxCPUPerPoint.Seconds() * 1000
			r.Baseline = fmt.Sprintf("InfluxDB 1.8 ≈ %.3f (28 µs/point)", yard)
			if v, ok := s.cpuPer1k("InfluxDB"); ok && ours > 0 {
				r.Ratio = fmt.Sprintf("InfluxDB %.1f× our busiest", v/ours)
			}
			r.Target, r.Met = "InfluxDB > each of our services", yesNo(influxIsBottleneck(s))
		}
		rows = append(rows, r)
	}
	return rows
}

// busBoundNodes is how many nodes of best's shape the raw bus alone would carry: the slower of
// its publish and consume rates over the messages a node sends per interval (scaled to the
// container count: the raw figures are for benchContainers).
func busBoundNodes(js jsResult, best stepResult, cfg capConfig) int {
	intervals := cfg.window.Seconds() / cfg.interval.Seconds()
	if best.msgs == 0 || intervals == 0 || js.pubRate == 0 {
		return 0
	}
	perNode := float64(best.msgs) / float64(best.size.nodes) / intervals
	busRate := min(js.pubRate, js.consRate) * float64(benchContainers) / float64(max(best.size.containers, 1))
	return int(busRate * cfg.interval.Seconds() / perNode)
}

// influxIsBottleneck reports whether InfluxDB spent more CPU per sample than any of our
// services (the NATS server is not ours; its figure is in the row beside them).
func influxIsBottleneck(s stepResult) bool {
	in, ok := s.cpuPer1k("InfluxDB")
	if !ok {
		return false
	}
	for _, name := range []string{"detector", "sink", "alerter"} {
		if v, ok := s.cpuPer1k(name); ok && v >= in {
			return false
		}
	}
	return true
}

// capacityNotes explain every step: backlog, CPU in cores, and for the one that did not hold,
// what saturated.
func capacityNotes(cfg capConfig, off, on capResult) []string {
	notes := []string{fmt.Sprintf("Capacity runs: `nodewarden simulate` at each size for %s (interval %s, %.2g kernel lines/s per node, %.0f%% matching), "+
		"detector ×1, sink, alerter (at its default resend interval, 1m), Alertmanager and Slack as separate processes, no Prometheus; the NATS server is embedded in the test process, "+
		"so its CPU is that process's (an upper bound). CPU in cores = CPU seconds / wall seconds of the step (run + drain).",
		cfg.window, cfg.interval, cfg.logRate, cfg.matchRate*100)}
	for _, c := range []capResult{off, on} {
		mode := "InfluxDB off"
		if c.influx {
			mode = "InfluxDB on"
		}
		if c.err != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", mode, c.err))
		}
		for _, s := range c.steps {
			var cores []string
			var sum float64
			for _, name := range slices.Sorted(maps.Keys(s.cpu)) {
				v := s.cpu[name].Seconds() / s.wall.Seconds()
				sum += v
				cores = append(cores, fmt.Sprintf("%s %.2f", name, v))
			}
			state := "held"
			if !s.ok {
				state = "did not hold: " + s.why + "; busiest: " + busiest(s)
			}
			notes = append(notes, fmt.Sprintf("%s, %s: %s; backlog growth %.2f%% (worst %s); %d msgs, %d container samples; cores %s (sum %.2f of %d)",
				mode, s.size, state, s.growth*100, s.worst, s.msgs, s.containerSamples, strings.Join(cores, ", "), sum, numCPU()))
		}
	}
	return notes
}

// busiest names the process that used the most CPU in a step.
func busiest(s stepResult) string {
	name, most := "none", time.Duration(0)
	for k, v := range s.cpu {
		if v > most {
			name, most = k, v
		}
	}
	return fmt.Sprintf("%s (%.2f cores)", name, most.Seconds()/s.wall.Seconds())
}

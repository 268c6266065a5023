package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchMetrics are one package's benchmark results: benchmark name (without the -GOMAXPROCS
// suffix) → unit → value, as `go test -bench` prints them (ns/op and every b.ReportMetric).
type benchMetrics map[string]map[string]float64

// get returns the value of unit in benchmark name, and whether there was one.
func (m benchMetrics) get(name, unit string) (float64, bool) {
	v, ok := m[name][unit]
	return v, ok
}

// pkgBench is one package's benchmarks the table reads, with the -benchtime of each mode.
type pkgBench struct {
	pkg, pattern     string
	quick, full      string
	count            int // full mode's -count (1 when zero); the table takes each metric's median
	metrics          benchMetrics
	err              error
	elapsed          time.Duration
	output, failNote string
}

// packageBenches are the per-package benchmarks that already measure their figure and its
// same-run baseline; the table only runs and reads them.
func packageBenches() []*pkgBench {
	return []*pkgBench{
		// Three runs: on this VM one 10-pass run of the real cgroup walk varied by 40 % between
		// runs minutes apart (42.95 and 30.5 CPU-ms for 1,000 v1 cgroups).
		{pkg: "./services/collector/cgroups", pattern: `^Benchmark(CollectRealV1|NaiveWalkRealV1|CollectV2Tree|NaiveWalkV2Tree)$/^(10|1000)$`, quick: "2x", full: "10x", count: 3},
		{pkg: "./services/collector/logwatch/kmsg", pattern: `^BenchmarkParseKmsg$`, quick: "1s", full: "5s"},
		{pkg: "./services/collector/nodestat", pattern: `^BenchmarkRead$/^(host|baseline-procfs-host)$`, quick: "1s", full: "5s"},
		{pkg: "./services/detector/matcher", pattern: `^BenchmarkKernelMonitorSpeedup$`, quick: "1s", full: "5s"},
		{pkg: "./services/detector", pattern: `^BenchmarkLineToProblem$`, quick: "20x", full: "300x"},
		{pkg: "./services/rebooter/lock", pattern: `^BenchmarkHandover$`, quick: "20x", full: "300x"},
		{pkg: "./services/rebooter", pattern: `^BenchmarkRequestToReboot$`, quick: "5x", full: "100x"},
		{pkg: "./services/sink/influx", pattern: `^BenchmarkSinkVsRaw$`, quick: "1x", full: "3x"},
		{pkg: "./services/sink/promexp", pattern: `^BenchmarkScrape100k$`, quick: "3x", full: "10x"},
		{pkg: "./services/alerter", pattern: `^BenchmarkConditionToAlert$`, quick: "20x", full: "300x"},
	}
}

// run runs the benchmarks from the workspace root, one package at a time so that each has
// the machine to itself, and parses their result lines.
func (p *pkgBench) run(quick bool) {
	bt, count := p.full, max(p.count, 1)
	if quick {
		bt, count = p.quick, 1
	}
	start := time.Now()
	var out []byte
	var err error
	// A build that fails is tried once more: on a shared machine another go command's cache
	// work can make one fail spuriously ("could not import strings").
	for attempt := 0; attempt < 2; attempt++ {
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", p.pattern, "-benchtime", bt,
			"-count", strconv.Itoa(count), "-timeout", "60m", p.pkg)
		cmd.Dir = ".." // the workspace root, where go.work is
		cmd.Env = serviceEnv()
		out, err = cmd.CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("[build failed]")) {
			break
		}
	}
	p.elapsed = time.Since(start)
	p.output = string(out)
	p.metrics = parseBench(out)
	if err != nil {
		p.err = fmt.Errorf("go test -bench %s %s: %w", p.pattern, p.pkg, err)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		p.failNote = "skipped: " + firstLineAfter(string(out), "--- SKIP")
	}
}

// benchName is a result line's name and iteration count; the metrics follow as value-unit pairs.
var benchName = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

// parseBench reads `go test -bench` output; a benchmark run more than once (-count) gets
// the median of each of its metrics.
func parseBench(out []byte) benchMetrics {
	all := map[string]map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		g := benchName.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		f := strings.Fields(g[4])
		if all[g[1]] == nil {
			all[g[1]] = map[string][]float64{}
		}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			all[g[1]][f[i+1]] = append(all[g[1]][f[i+1]], v)
		}
	}
	m := benchMetrics{}
	for name, units := range all {
		m[name] = map[string]float64{}
		for unit, vs := range units {
			slices.Sort(vs)
			m[name][unit] = vs[len(vs)/2]
		}
	}
	return m
}

// firstLineAfter is the rest of the line after marker and the line that follows it (the
// skip reason), trimmed.
func firstLineAfter(s, marker string) string {
	i := strings.Index(s, marker)
	if i < 0 {
		return ""
	}
	lines := strings.SplitN(s[i:], "\n", 3)
	msg := strings.TrimSpace(lines[0])
	if len(lines) > 1 {
		msg += " " + strings.TrimSpace(lines[1])
	}
	return msg
}

// packageRows turns the per-package benchmarks into table rows. A benchmark that failed or
// skipped still gets its row, saying so.
func packageRows(bs []*pkgBench) []row {
	by := map[string]*pkgBench{}
	for _, b := range bs {
		by[b.pkg] = b
	}
	var rows []row
	add := func(r row) { rows = append(rows, r) }
	missing := func(pkg, figure, target string) row {
		b := by[pkg]
		why := "no result"
		if b != nil && b.failNote != "" {
			why = b.failNote
		} else if b != nil && b.err != nil {
			why = "failed (see bench/run.log)"
		}
		return row{Figure: figure, Value: why, Target: target, Met: "n/a"}
	}

	cg := by["./services/collector/cgroups"].metrics
	for _, c := range []struct{ ours, naive, figure, target string }{
		{"BenchmarkCollectRealV1/1000", "BenchmarkNaiveWalkRealV1/1000", "collector pass, 1,000 real v1 cgroups (CPU/pass)", "≥50× less, <30 ms"},
		{"BenchmarkCollectV2Tree/1000", "BenchmarkNaiveWalkV2Tree/1000", "collector pass, v2 tree of 1,000 (CPU/pass)", "≥50× less"},
		{"BenchmarkCollectRealV1/10", "BenchmarkNaiveWalkRealV1/10", "collector pass, 10 real v1 cgroups (CPU/pass)", "<1 ms"},
	} {
		ours, ok1 := cg.get(c.ours, "cpu-ms/op")
		naive, ok2 := cg.get(c.naive, "cpu-ms/op")
		if !ok1 || !ok2 {
			add(missing("./services/collector/cgroups", c.figure, c.target))
			continue
		}
		rss, _ := cg.get(c.ours, "maxrss-MiB")
		met := naive/ours >= 50
		switch {
		case strings.HasSuffix(c.ours, "V1/1000"):
			met = met && ours < 30
		case strings.HasSuffix(c.ours, "/10"):
			met = ours < 1
		}
		add(row{Figure: c.figure, Value: fmt.Sprintf("%.2f ms (maxrss %.0f MiB)", ours, rss),
			Baseline: fmt.Sprintf("naive walk %.1f ms", naive), Ratio: fmt.Sprintf("%.0f× less", naive/ours),
			Target: c.target, Met: yesNo(met)})
	}

	if v, ok := by["./services/collector/logwatch/kmsg"].metrics.get("BenchmarkParseKmsg", "lines/s"); ok {
		add(row{Figure: "kmsg parser", Value: rate(v, "lines/s"), Baseline: "—", Ratio: "—", Target: "≥2 M lines/s", Met: yesNo(v >= 2e6)})
	} else {
		add(missing("./services/collector/logwatch/kmsg", "kmsg parser", "≥2 M lines/s"))
	}

	ns := by["./services/collector/nodestat"].metrics
	if ours, ok := ns.get("BenchmarkRead/host", "ns/op"); ok {
		base, _ := ns.get("BenchmarkRead/baseline-procfs-host", "ns/op")
		add(row{Figure: "node sample read (this host)", Value: fmt.Sprintf("%.0f µs", ours/1e3),
			Baseline: fmt.Sprintf("prometheus/procfs %.0f µs", base/1e3), Ratio: ratio(base, ours, "× faster"), Target: "—", Met: "—"})
	} else {
		add(missing("./services/collector/nodestat", "node sample read (this host)", "—"))
	}

	mt := by["./services/detector/matcher"].metrics
	if v, ok := mt.get("BenchmarkKernelMonitorSpeedup", "matcher-lines/s"); ok {
		last, _ := mt.get("BenchmarkKernelMonitorSpeedup", "npd-lastline-lines/s")
		buf, _ := mt.get("BenchmarkKernelMonitorSpeedup", "npd-buffer-lines/s")
		x, _ := mt.get("BenchmarkKernelMonitorSpeedup", "x-npd-lastline")
		add(row{Figure: "matcher, kernel-monitor.json", Value: rate(v, "lines/s"),
			Baseline: fmt.Sprintf("NPD last-line loop %s (buffer %s)", rate(last, "lines/s"), rate(buf, "lines/s")),
			Ratio:    fmt.Sprintf("%.1f×", x), Target: "≥10×, ≥2 M lines/s", Met: yesNo(x >= 10 && v >= 2e6)})
	} else {
		add(missing("./services/detector/matcher", "matcher, kernel-monitor.json", "≥10×, ≥2 M lines/s"))
	}

	if p99, ok := by["./services/detector"].metrics.get("BenchmarkLineToProblem", "p99-ms"); ok {
		p50, _ := by["./services/detector"].metrics.get("BenchmarkLineToProblem", "p50-ms")
		add(row{Figure: "detector: line published → Problem (1,000 nodes bg, in process)", Value: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", p50, p99),
			Baseline: "—", Ratio: "—", Target: "p99 <100 ms", Met: yesNo(p99 < 100)})
	} else {
		add(missing("./services/detector", "detector: line published → Problem", "p99 <100 ms"))
	}

	if p99, ok := by["./services/rebooter/lock"].metrics.get("BenchmarkHandover", "p99-ms"); ok {
		p50, _ := by["./services/rebooter/lock"].metrics.get("BenchmarkHandover", "p50-ms")
		add(row{Figure: "reboot lock hand-over, 100 waiters", Value: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", p50, p99),
			Baseline: "—", Ratio: "—", Target: "p99 <200 ms", Met: yesNo(p99 < 200)})
	} else {
		add(missing("./services/rebooter/lock", "reboot lock hand-over, 100 waiters", "p99 <200 ms"))
	}

	rb := by["./services/rebooter"].metrics
	if p99, ok := rb.get("BenchmarkRequestToReboot", "p99-ms"); ok {
		p50, _ := rb.get("BenchmarkRequestToReboot", "p50-ms")
		base, _ := rb.get("BenchmarkRequestToReboot", "baseline-publish-p99-ms")
		add(row{Figure: "rebooter: RebootRequired → reboot (in process)", Value: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", p50, p99),
			Baseline: fmt.Sprintf("JetStream publish p99 %.2f ms", base), Ratio: ratio(p99, base, "×"), Target: "p99 <1 s", Met: yesNo(p99 < 1000)})
	} else {
		add(missing("./services/rebooter", "rebooter: RebootRequired → reboot (in process)", "p99 <1 s"))
	}

	sk := by["./services/sink/influx"].metrics
	if s, ok := sk.get("BenchmarkSinkVsRaw", "sink-points/s"); ok {
		raw, _ := sk.get("BenchmarkSinkVsRaw", "raw-points/s")
		add(row{Figure: "sink → InfluxDB, JetStream → InfluxDB", Value: rate(s, "points/s"),
			Baseline: "influxdb-client-go alone " + rate(raw, "points/s"), Ratio: fmt.Sprintf("%.2f×", s/raw),
			Target: "≥0.8× raw", Met: yesNo(s/raw >= 0.8)})
	} else {
		add(missing("./services/sink/influx", "sink → InfluxDB, JetStream → InfluxDB", "≥0.8× raw"))
	}

	pe := by["./services/sink/promexp"].metrics
	if ms, ok := pe.get("BenchmarkScrape100k", "ms/scrape"); ok {
		hb, _ := pe.get("BenchmarkScrape100k", "heapB/series")
		add(row{Figure: "/metrics scrape of 100,000 series", Value: fmt.Sprintf("%.0f ms (%.0f B heap/series)", ms, hb),
			Baseline: "—", Ratio: "—", Target: "<300 ms", Met: yesNo(ms < 300)})
	} else {
		add(missing("./services/sink/promexp", "/metrics scrape of 100,000 series", "<300 ms"))
	}

	al := by["./services/alerter"].metrics
	if p99, ok := al.get("BenchmarkConditionToAlert", "p99-ms"); ok {
		p50, _ := al.get("BenchmarkConditionToAlert", "p50-ms")
		base, _ := al.get("BenchmarkConditionToAlert", "baseline-getalerts-p99-ms")
		add(row{Figure: "alerter: condition → alert visible (1,000 nodes bg)", Value: fmt.Sprintf("p50 %.0f ms, p99 %.0f ms", p50, p99),
			Baseline: fmt.Sprintf("GetAlerts round trip p99 %.1f ms", base), Ratio: ratio(p99, base, "×"), Target: "p99 <500 ms", Met: yesNo(p99 < 500)})
	} else {
		add(missing("./services/alerter", "alerter: condition → alert visible", "p99 <500 ms"))
	}
	return rows
}

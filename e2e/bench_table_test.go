package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The benchmark table of `make bench` (issue 10, item 5): every figure of the issues'
// performance sections with its baseline measured in the same run. NW_BENCH=1 runs it;
// NW_BENCH_QUICK=1 runs it at small sizes with few iterations, to check the plumbing in a few
// minutes. It writes the table to ../bench/results.md (and prints it) and the latency plot
// to ../bench/latency.png.
const (
	benchEnv      = "NW_BENCH"
	benchQuickEnv = "NW_BENCH_QUICK"
	// benchOutEnv overrides the output directory (default ../bench, the repository's bench/).
	benchOutEnv = "NW_BENCH_OUT"
)

// row is one line of the table.
type row struct {
	Figure, Value, Baseline, Ratio, Target, Met string
}

func TestBenchTable(t *testing.T) {
	if os.Getenv(benchEnv) != "1" {
		t.Skipf("the benchmark table runs only with %s=1 (make bench)", benchEnv)
	}
	quick := os.Getenv(benchQuickEnv) == "1"
	out := os.Getenv(benchOutEnv)
	if out == "" {
		out = filepath.Join("..", "bench")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatalf("bench output dir: %v", err)
	}
	start := time.Now()
	var rows []row
	var notes []string

	// The per-package benchmarks first, one at a time, before any server of this test runs.
	benches := packageBenches()
	for _, b := range benches {
		b.run(quick)
		t.Logf("bench: %s %s in %s (err %v)", b.pkg, b.pattern, b.elapsed.Round(time.Second), b.err)
		if b.err != nil {
			t.Logf("bench: %s output:\n%s", b.pkg, b.output)
			notes = append(notes, fmt.Sprintf("%s failed: %v", b.pkg, b.err))
		}
	}

	js := measureJetStream(t, quick)
	rows = append(rows, js.rows()...)
	rows = append(rows, packageRows(benches)...)

	rb := measureRebootLatency(t, quick)
	rows = append(rows, rb.row())

	cfg := capacityConfig(quick)
	off := searchCapacity(t, cfg, false)
	on := searchCapacity(t, cfg, true)
	rows = append(rows, latencyRows(off, js)...)
	rows = append(rows, capacityRows(cfg, js, off, on)...)
	notes = append(notes, capacityNotes(cfg, off, on)...)

	mode := "full"
	if quick {
		mode = "quick (NW_BENCH_QUICK=1: small sizes, few iterations — not the figures to quote)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# nodewarden benchmark\n\n%s, GOMAXPROCS %d, %d CPUs; mode: %s; took %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOMAXPROCS(0), numCPU(), mode,
		time.Since(start).Round(time.Second))
	b.WriteString(renderTable(rows))
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	b.WriteString("\nReproduce: `make bench` (quick plumbing check: `NW_BENCH_QUICK=1 make bench`); raw `go test -bench` output of every package: `make bench-raw`.\n")
	if err := os.WriteFile(filepath.Join(out, "results.md"), []byte(b.String()), 0o644); err != nil {
		t.Fatalf("write results.md: %v", err)
	}
	if err := plotLatency(filepath.Join(out, "latency.png"), off, on); err != nil {
		t.Errorf("plot: %v", err)
	}
	t.Logf("bench: table written to %s\n%s", filepath.Join(out, "results.md"), b.String())
}

// renderTable is rows as a Markdown table.
func renderTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| figure | value | baseline (same run) | ratio | target | met? |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	cell := func(s string) string {
		if s == "" {
			return "—"
		}
		return strings.ReplaceAll(s, "|", `\|`)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(r.Figure), cell(r.Value), cell(r.Baseline),
			cell(r.Ratio), cell(r.Target), cell(r.Met))
	}
	return b.String()
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// rate formats a per-second figure with a k or M suffix.
func rate(v float64, unit string) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M %s", v/1e6, unit)
	case v >= 1e4:
		return fmt.Sprintf("%.1f k %s", v/1e3, unit)
	default:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
}

// ratio is a/b with suffix, or "—" when b is not positive.
func ratio(a, b float64, suffix string) string {
	if b <= 0 || a <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%s", a/b, suffix)
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
}

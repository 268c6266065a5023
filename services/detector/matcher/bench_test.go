package matcher

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// benchMix is the benchmark's log: the real kernel lines of testdata/kmsg.txt (collected from
// /dev/kmsg) repeated, with one line in a thousand replaced by a line that matches a rule of
// kernel-monitor.json (testdata/rules), so 99.9 % match nothing.
func benchMix(b *testing.B) (*npdconfig.Monitor, []Line) {
	b.Helper()
	mon, err := npdconfig.Load(filepath.Join(compatDir, "kernel-monitor.json"))
	if err != nil {
		b.Fatal(err)
	}
	var tc struct{ Cases []ruleCase }
	data, err := os.ReadFile(filepath.Join("testdata", "rules", "kernel-monitor.json"))
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(data, &tc); err != nil {
		b.Fatal(err)
	}
	kmsg := readLines(b, filepath.Join("testdata", "kmsg.txt"))
	lines := make([]Line, 100_000)
	for i := range lines {
		msg := kmsg[i%len(kmsg)]
		if i%1000 == 999 {
			msg = tc.Cases[(i/1000)%len(tc.Cases)].Match
		}
		lines[i] = Line{Seq: uint64(i), Message: msg}
	}
	return mon, lines
}

// pusher is one way of evaluating the rules on the next line; it returns the matches.
type pusher func(Line) int

func matcherPusher(b *testing.B, mon *npdconfig.Monitor) pusher {
	set, err := Compile(mon)
	if err != nil {
		b.Fatal(err)
	}
	buf := set.NewBuffer()
	var dst []Match
	return func(l Line) int {
		dst = buf.Push(l, dst[:0])
		return len(dst)
	}
}

// npdBufferPusher is NPD's released algorithm (with the regexps compiled once): the buffer
// joined again for every rule, pattern + `\z` over all of it.
func npdBufferPusher(b *testing.B, mon *npdconfig.Monitor) pusher {
	ref := newReference(b, mon)
	return func(l Line) int { return len(ref.push(l)) }
}

// npdLastLinePusher is NPD main's loop for rules that cannot cross a line: every rule's
// pattern + `\z` on the last line alone, no join.
func npdLastLinePusher(b *testing.B, mon *npdconfig.Monitor) pusher {
	var res []*regexp.Regexp
	for _, r := range mon.Rules {
		res = append(res, regexp.MustCompile(r.Pattern+`\z`))
	}
	return func(l Line) int {
		n := 0
		for _, re := range res {
			if re.FindStringIndex(l.Message) != nil {
				n++
			}
		}
		return n
	}
}

var benchPushers = []struct {
	name string
	new  func(*testing.B, *npdconfig.Monitor) pusher
}{
	{"matcher", matcherPusher},
	{"npd-buffer", npdBufferPusher},
	{"npd-lastline", npdLastLinePusher},
}

// BenchmarkKernelMonitor is lines/s through each evaluator (one op is one line).
func BenchmarkKernelMonitor(b *testing.B) {
	mon, lines := benchMix(b)
	for _, p := range benchPushers {
		b.Run(p.name, func(b *testing.B) {
			push := p.new(b, mon)
			matches := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				matches += push(lines[i%len(lines)])
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "lines/s")
			if i >= len(lines) && matches == 0 {
				b.Fatal("no line matched: the mix is wrong")
			}
		})
	}
}

// BenchmarkKernelMonitorSpeedup interleaves the three evaluators in chunks of the same lines
// in one run and reports the matcher's lines/s and its speedup over NPD's two loops. It also
// checks that all three found the same number of matches.
func BenchmarkKernelMonitorSpeedup(b *testing.B) {
	mon, lines := benchMix(b)
	pushers := make([]pusher, len(benchPushers))
	for i, p := range benchPushers {
		pushers[i] = p.new(b, mon)
	}
	elapsed := make([]time.Duration, len(pushers))
	matches := make([]int, len(pushers))
	const chunk = 100
	next, total := 0, 0
	for b.Loop() {
		part := lines[next : next+chunk]
		for i, push := range pushers {
			start := time.Now()
			for _, l := range part {
				matches[i] += push(l)
			}
			elapsed[i] += time.Since(start)
		}
		total += chunk
		next = (next + chunk) % len(lines)
	}
	if matches[0] != matches[1] || matches[0] != matches[2] {
		b.Fatalf("matches: matcher %d, npd-buffer %d, npd-lastline %d", matches[0], matches[1], matches[2])
	}
	b.ReportMetric(float64(total)/elapsed[0].Seconds(), "matcher-lines/s")
	b.ReportMetric(float64(total)/elapsed[1].Seconds(), "npd-buffer-lines/s")
	b.ReportMetric(float64(total)/elapsed[2].Seconds(), "npd-lastline-lines/s")
	b.ReportMetric(elapsed[1].Seconds()/elapsed[0].Seconds(), "x-npd-buffer")
	b.ReportMetric(elapsed[2].Seconds()/elapsed[0].Seconds(), "x-npd-lastline")
}

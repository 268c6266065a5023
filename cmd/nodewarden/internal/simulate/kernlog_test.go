package simulate

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// kernelMonitor loads NPD's own kernel-monitor.json from the shared compat copies beside the
// workspace.
func kernelMonitor(t testing.TB) *npdconfig.Monitor {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = filepath.Dir(dir)
	}
	m, err := npdconfig.Load(filepath.Join(dir, "..", "shared", "compat", "npd", "kernel-monitor.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rules) == 0 {
		t.Fatal("kernel-monitor.json has no rules")
	}
	return m
}

// ruleMatcher tells which rules of a monitor match a line, both as the pattern is written and
// as NPD applies it (anchored at the end of the buffered lines).
type ruleMatcher struct {
	rules    []npdconfig.Rule
	anchored []*regexp.Regexp
}

func newRuleMatcher(m *npdconfig.Monitor) *ruleMatcher {
	rm := &ruleMatcher{rules: m.Rules}
	for _, r := range m.Rules {
		rm.anchored = append(rm.anchored, regexp.MustCompile(`(?:`+r.Pattern+`)\z`))
	}
	return rm
}

// matches lists the indexes of the rules that match line as NPD would.
func (rm *ruleMatcher) matches(line string) []int {
	var hit []int
	for i := range rm.rules {
		if rm.rules[i].Regexp().MatchString(line) && rm.anchored[i].MatchString(line) {
			hit = append(hit, i)
		}
	}
	return hit
}

// unanchored reports whether any rule's pattern occurs anywhere in line.
func (rm *ruleMatcher) unanchored(line string) bool {
	for i := range rm.rules {
		if rm.rules[i].Regexp().MatchString(line) {
			return true
		}
	}
	return false
}

// Every matching example is a line some rule of kernel-monitor.json matches, and together they
// match every rule, so --match-rate exercises the whole file.
func TestMatchingLinesMatchKernelMonitorRules(t *testing.T) {
	rm := newRuleMatcher(kernelMonitor(t))
	covered := make([]bool, len(rm.rules))
	for _, l := range matchingLines {
		hit := rm.matches(l.text)
		if len(hit) == 0 {
			t.Errorf("no rule matches %q", l.text)
		}
		for _, i := range hit {
			covered[i] = true
		}
		if l.prio < 0 || l.prio > 7 {
			t.Errorf("%q: priority %d", l.text, l.prio)
		}
	}
	for i, c := range covered {
		if !c {
			t.Errorf("no example line for rule %s %q", rm.rules[i].Reason, rm.rules[i].Pattern)
		}
	}
}

// No benign line matches any rule, not even unanchored, whatever the seed.
func TestBenignLinesMatchNoRule(t *testing.T) {
	rm := newRuleMatcher(kernelMonitor(t))
	for _, seed := range []int64{1, 2, 42, -7} {
		k := newKernelCatalog(seed)
		if len(k.benign) != len(benignTemplates)*benignVariants {
			t.Fatalf("seed %d: %d benign lines", seed, len(k.benign))
		}
		for _, l := range k.benign {
			if rm.unanchored(l.text) {
				t.Errorf("seed %d: a rule matches the benign line %q", seed, l.text)
			}
		}
	}
}

func TestLogStreamSequencesAndMatchRate(t *testing.T) {
	rm := newRuleMatcher(kernelMonitor(t))
	start := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		matchRate float64
		rate      float64
		wantAll   bool
		wantNone  bool
	}{
		{name: "all match", matchRate: 1, rate: 50, wantAll: true},
		{name: "none match", matchRate: 0, rate: 50, wantNone: true},
		{name: "some match", matchRate: 0.3, rate: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newNodeRand(3, 0)
			ls := newLogStream(r, "n1", "boot-1", start, params{logRate: tt.rate, matchRate: tt.matchRate}, newKernelCatalog(3))
			var next uint64
			lines, matched, counted := 0, 0, 0
			for step := 1; step <= 20; step++ {
				now := start.Add(time.Duration(step) * 250 * time.Millisecond)
				for k := ls.due(now); k > 0; k = ls.due(now) {
					counted += ls.fill(r, now, min(k, maxBatchLines))
					b := ls.msg
					if b.StreamId != "kmsg:boot-1" || b.Source != kernelSource || b.Node != "n1" {
						t.Fatalf("batch identity: %q %q %q", b.StreamId, b.Source, b.Node)
					}
					if b.FirstSeq != b.Lines[0].Seq || next != 0 && b.FirstSeq != next {
						t.Fatalf("first_seq %d, line 0 seq %d, want %d", b.FirstSeq, b.Lines[0].Seq, next)
					}
					for i, l := range b.Lines {
						if l.Seq != b.FirstSeq+uint64(i) {
							t.Fatalf("line %d seq %d, want %d", i, l.Seq, b.FirstSeq+uint64(i))
						}
						if l.Time.AsTime().After(now) {
							t.Fatalf("line due %v published at %v", l.Time.AsTime(), now)
						}
						if len(rm.matches(l.Message)) > 0 {
							matched++
						}
					}
					next = b.FirstSeq + uint64(len(b.Lines))
					lines += len(b.Lines)
				}
			}
			// 5 s at rate lines/s: the first line is due within the first gap.
			if want := int(tt.rate * 5); lines < want-1 || lines > want {
				t.Fatalf("%d lines in 5s at %v/s", lines, tt.rate)
			}
			if matched != counted {
				t.Fatalf("%d lines match a rule, %d counted as matching", matched, counted)
			}
			switch {
			case tt.wantAll && matched != lines, tt.wantNone && matched != 0:
				t.Fatalf("%d of %d lines match at match rate %v", matched, lines, tt.matchRate)
			case !tt.wantAll && !tt.wantNone && (matched < lines/5 || matched > lines*2/5):
				t.Fatalf("%d of %d lines match at match rate %v", matched, lines, tt.matchRate)
			}
		})
	}
}

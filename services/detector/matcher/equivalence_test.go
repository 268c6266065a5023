package matcher

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// compatDir holds NPD's own monitor files, beside the checkout.
var compatDir = filepath.Join("..", "..", "..", "..", "shared", "compat", "npd")

// loadableCompat are the system-log-monitor files of compatDir; the others (custom plugins,
// system stats, health checkers) are refused by npdconfig and are not the matcher's.
var loadableCompat = []string{
	"disk-log-message-filelog.json", "docker-monitor-filelog.json", "docker-monitor.json",
	"kernel-monitor-filelog.json", "kernel-monitor.json", "readonly-monitor.json",
	"systemd-monitor.json",
}

// compatMonitors loads every file of compatDir that npdconfig accepts and checks that they
// are exactly loadableCompat, so a missing directory or a new file cannot pass unnoticed.
func compatMonitors(t testing.TB) []*npdconfig.Monitor {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(compatDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no NPD monitor files in %s (%v)", compatDir, err)
	}
	var mons []*npdconfig.Monitor
	var names []string
	for _, p := range paths {
		m, err := npdconfig.Load(p)
		if err != nil {
			continue // custom-plugin, system-stats and health-checker files
		}
		mons = append(mons, m)
		names = append(names, filepath.Base(p))
	}
	if strings.Join(names, ",") != strings.Join(loadableCompat, ",") {
		t.Fatalf("loadable files in %s: %v, want %v", compatDir, names, loadableCompat)
	}
	return mons
}

// spanningMonitors loads testdata/multiline: patterns that span lines, and the NPD quirks
// (begin-of-text, a match starting on the separator, top-level alternations).
func spanningMonitors(t testing.TB) []*npdconfig.Monitor {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join("testdata", "multiline", "*.json"))
	if len(paths) == 0 {
		t.Fatal("no testdata/multiline monitors")
	}
	var mons []*npdconfig.Monitor
	for _, p := range paths {
		m, err := npdconfig.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		mons = append(mons, m)
	}
	return mons
}

// withSize is a copy of mon with another bufferSize (0 for NPD's default).
func withSize(mon *npdconfig.Monitor, size int) *npdconfig.Monitor {
	c := *mon
	c.BufferSize = size
	c.Path = fmt.Sprintf("%s@%d", mon.Path, size)
	return &c
}

// allMonitors is every monitor of the property tests at its own buffer size and the sizes
// given, and kernel-monitor.json with extra rules: a case-insensitive one, which makes the
// prefilter compare lowered lines for every rule, one with U+FFFD (it matches invalid
// UTF-8), and one whose alternation has a branch without a known prefix.
func allMonitors(t testing.TB, sizes ...int) []*npdconfig.Monitor {
	mons := append(compatMonitors(t), spanningMonitors(t)...)
	for _, m := range mons {
		if filepath.Base(m.Path) == "kernel-monitor.json" {
			c := *m
			c.Path += "+extra"
			c.Rules = append(slices.Clip(m.Rules),
				npdconfig.Rule{Type: npdconfig.Temporary, Reason: "OOMAnyCase",
					Pattern: `(?i)out of memory: kill(ed)? process \d+ \(\S+\)(, UID)?.*`},
				npdconfig.Rule{Type: npdconfig.Temporary, Reason: "Replacement", Pattern: `bad byte \x{FFFD} in \w+`},
				npdconfig.Rule{Type: npdconfig.Temporary, Reason: "SomePrefix", Pattern: `Started (kube.*|\d+)\.`})
			mons = append(mons, &c)
			break
		}
	}
	var out []*npdconfig.Monitor
	for _, m := range mons {
		out = append(out, m)
		for _, size := range sizes {
			out = append(out, withSize(m, size))
		}
	}
	return out
}

func TestEquivalenceRandomLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mon := range allMonitors(t, 1, 2, 3) {
		msgs := make([]string, 1000)
		for i := range msgs {
			msgs[i] = randomLine(rng)
		}
		compare(t, mon, msgs)
	}
}

// TestEquivalenceLiteralLines feeds lines built from each rule's pattern and from the
// strings its prefilter looks for, whole and damaged, so the prefilter's candidates (and its
// near misses) are exercised. Every rule of the compat files must match at least once.
func TestEquivalenceLiteralLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, mon := range allMonitors(t, 1, 2, 3) {
		set, err := Compile(mon)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for range 12 {
			for i, r := range mon.Rules {
				p, err := syntax.Parse(r.Pattern, syntax.Perl)
				if err != nil {
					t.Fatal(err)
				}
				m := generate(rng, p)
				msgs = append(msgs, m, nearMiss(rng, m), randomLine(rng)+" "+m)
				for _, lit := range set.compiled[i].req {
					ctx := randomLine(rng)
					at := rng.IntN(len(ctx) + 1)
					msgs = append(msgs, ctx[:at]+lit+ctx[at:], nearMiss(rng, lit), strings.ToUpper(lit))
				}
			}
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		checkPrefilterSound(t, set, msgs)
		matched := make([]bool, len(mon.Rules))
		buf, ref := set.NewBuffer(), newReference(t, mon)
		var got []Match
		for i, msg := range msgs {
			l := Line{Seq: uint64(i), Message: msg}
			want := ref.push(l)
			if got = buf.Push(l, got[:0]); diff(want, got) != "" {
				t.Fatalf("%s line %d %q: %s", mon.Path, i, msg, diff(want, got))
			}
			for _, m := range got {
				matched[m.RuleIndex] = true
			}
		}
		if strings.Contains(mon.Path, "compat") || strings.Contains(mon.Path, "extra") {
			for i, ok := range matched {
				if !ok {
					t.Errorf("%s: rule %d %q never matched a generated line", mon.Path, i, mon.Rules[i].Pattern)
				}
			}
		}
	}
}

// checkPrefilterSound checks the prefilter alone: a rule it leaves out must not match.
func checkPrefilterSound(t *testing.T, set *Set, msgs []string) {
	t.Helper()
	if set.pre == nil {
		return
	}
	cand := make([]uint64, (len(set.compiled)+63)/64)
	var scratch []byte
	for _, msg := range msgs {
		clear(cand)
		scratch = set.pre.mark(msg, scratch, cand)
		for i, r := range set.compiled {
			if r.mode == modeCandidate && cand[i/64]&(1<<(i%64)) == 0 && r.re.MatchString(msg) {
				t.Fatalf("rule %d (required %q) matches %q but the prefilter left it out", i, r.req, msg)
			}
		}
	}
}

// TestEquivalenceSpanning feeds the spanning monitors lines from their own words, with
// newlines inside messages and empty messages, and checks that matches spanning several
// lines happened.
func TestEquivalenceSpanning(t *testing.T) {
	words := []string{"alpha", "beta", "gamma", "first", "second", "only line", "line one",
		"line two", "oom-kill", "Out of memory", "", "x", "alpha beta", "ALPHA", "BETA",
		"trailing\nembedded newline", "task kworker hung", "stack:", "  at foo", "\n", "beta\nalpha"}
	rng := rand.New(rand.NewPCG(5, 6))
	spans := 0
	for _, mon := range spanningMonitors(t) {
		for _, size := range []int{mon.BufferSize, 1, 2, 5} {
			m := withSize(mon, size)
			set, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			for trial := range 100 {
				msgs := make([]string, rng.IntN(4*max(size, 1)+1))
				for i := range msgs {
					msgs[i] = words[rng.IntN(len(words))]
				}
				if trial%2 == 0 {
					spans += countSpans(t, set, m, msgs)
				} else {
					compareSet(t, set, m, msgs)
				}
			}
		}
	}
	if spans == 0 {
		t.Fatal("no match spanned several lines: the buffer path was not exercised")
	}
}

func countSpans(t *testing.T, set *Set, mon *npdconfig.Monitor, msgs []string) int {
	t.Helper()
	compareSet(t, set, mon, msgs)
	n := 0
	buf := set.NewBuffer()
	for _, msg := range msgs {
		for _, m := range buf.Push(Line{Message: msg}, nil) {
			if len(m.Lines) > 1 {
				n++
			}
		}
	}
	return n
}

// TestEquivalenceKmsgTestdata runs the compat files over the kernel lines collected in
// testdata/kmsg.txt (the benchmark's lines).
func TestEquivalenceKmsgTestdata(t *testing.T) {
	lines := readLines(t, filepath.Join("testdata", "kmsg.txt"))
	for _, mon := range allMonitors(t, 2) {
		compare(t, mon, lines)
	}
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return out
}

// TestConcurrentBuffers runs buffers of one Set in parallel (run it with -race): the Set is
// shared, each buffer is one node's.
func TestConcurrentBuffers(t *testing.T) {
	mon := compatMonitors(t)[4] // kernel-monitor.json
	set, err := Compile(mon)
	if err != nil {
		t.Fatal(err)
	}
	kmsg := readLines(t, filepath.Join("testdata", "kmsg.txt"))
	for i := range 4 {
		t.Run(fmt.Sprint("node", i), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			msgs := make([]string, 2000)
			for j := range msgs {
				msgs[j] = kmsg[rng.IntN(len(kmsg))]
				if rng.IntN(50) == 0 {
					msgs[j] = "INFO: task docker:1234 blocked for more than 120 seconds."
				}
			}
			if compareSet(t, set, mon, msgs) == 0 {
				t.Error("no line matched")
			}
		})
	}
}

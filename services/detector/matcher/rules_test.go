package matcher

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// ruleCase is one rule of a compat file: a line that must match it (and the other rules it
// also matches), and lines, real-looking near misses, that must not.
type ruleCase struct {
	Rule        int      `json:"rule"`
	Type        string   `json:"type"`
	Condition   string   `json:"condition"`
	Reason      string   `json:"reason"`
	Match       string   `json:"match"`
	Message     string   `json:"message"` // NPD's message; empty means the line itself
	AlsoMatches []int    `json:"alsoMatches"`
	NoMatch     []string `json:"noMatch"`
}

// TestCompatRules loads every system-log-monitor file of NPD unchanged and checks each rule
// with the cases of testdata/rules/<file>: reason, condition, type and NPD's message.
func TestCompatRules(t *testing.T) {
	mons := compatMonitors(t)
	for _, mon := range mons {
		name := filepath.Base(mon.Path)
		t.Run(name, func(t *testing.T) {
			var tc struct{ Cases []ruleCase }
			data, err := os.ReadFile(filepath.Join("testdata", "rules", name))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &tc); err != nil {
				t.Fatalf("testdata/rules/%s: %v", name, err)
			}
			covered := make([]bool, len(mon.Rules))
			set, err := Compile(mon)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.Cases {
				if c.Rule < 0 || c.Rule >= len(mon.Rules) {
					t.Fatalf("case for rule %d: the file has %d rules", c.Rule, len(mon.Rules))
				}
				if len(c.NoMatch) == 0 {
					t.Errorf("rule %d: no line that must not match", c.Rule)
				}
				covered[c.Rule] = true
				checkCase(t, set, mon, c)
			}
			for i, ok := range covered {
				if !ok {
					t.Errorf("rule %d (%s) has no case", i, mon.Rules[i].Reason)
				}
			}
		})
	}
}

func checkCase(t *testing.T, set *Set, mon *npdconfig.Monitor, c ruleCase) {
	t.Helper()
	r := mon.Rules[c.Rule]
	if r.Type != c.Type || r.Condition != c.Condition || r.Reason != c.Reason {
		t.Errorf("rule %d is %s/%s/%s in the file, the case says %s/%s/%s",
			c.Rule, r.Type, r.Condition, r.Reason, c.Type, c.Condition, c.Reason)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	buf := set.NewBuffer()
	got := buf.Push(Line{Seq: 1, Time: at, Message: c.Match}, nil)
	var rules []int
	var m *Match
	for i := range got {
		rules = append(rules, got[i].RuleIndex)
		if got[i].RuleIndex == c.Rule {
			m = &got[i]
		}
	}
	want := append([]int{c.Rule}, c.AlsoMatches...)
	slices.Sort(want)
	if !slices.Equal(rules, want) {
		t.Errorf("%q matched rules %v, want %v", c.Match, rules, want)
	}
	if m == nil {
		return
	}
	msg := c.Message
	if msg == "" {
		msg = c.Match
	}
	if m.Rule.Reason != c.Reason || m.Rule.Condition != c.Condition || m.Rule.Type != c.Type {
		t.Errorf("rule %d: match carries %s/%s/%s", c.Rule, m.Rule.Type, m.Rule.Condition, m.Rule.Reason)
	}
	if m.Message != msg {
		t.Errorf("rule %d: message %q, want %q", c.Rule, m.Message, msg)
	}
	if len(m.Lines) != 1 || m.Lines[0].Seq != 1 || !m.Lines[0].Time.Equal(at) {
		t.Errorf("rule %d: lines %+v, want the one line pushed", c.Rule, m.Lines)
	}
	// The near misses, each alone and after the matching line still in the buffer.
	for _, line := range c.NoMatch {
		for _, b := range []*Buffer{set.NewBuffer(), buf} {
			for _, m := range b.Push(Line{Seq: 2, Message: line}, nil) {
				if m.RuleIndex == c.Rule {
					t.Errorf("rule %d (%s) matched %q: %q", c.Rule, c.Reason, line, m.Message)
				}
			}
		}
	}
	compare(t, mon, append([]string{c.Match}, c.NoMatch...))
}

// TestSpanningMessage checks NPD's report of a match over several lines: the lines from the
// one the match starts in, oldest first, their messages joined by "\n", and the first line's
// time; a match starting on the separator before a line is that line's alone.
func TestSpanningMessage(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		size    int
		lines   []string
		want    []string // lines of the match on the last push; nil: no match
	}{
		{"two lines", `task \w+ hung\n.*stack:\n.*`, 10,
			[]string{"noise", "task kworker hung", "stack:", "  at foo"},
			[]string{"task kworker hung", "stack:", "  at foo"}},
		{"starts inside the first line", `hung\n.*stack:\n.*`, 10,
			[]string{"noise", "task kworker hung", "stack:", "  at foo"},
			[]string{"task kworker hung", "stack:", "  at foo"}},
		{"starts on the separator", `\nbeta`, 3, []string{"alpha", "beta"}, []string{"beta"}},
		{"span longer than the buffer", `first\nsecond\nthird`, 2, []string{"first", "second", "third"}, nil},
		{"dot-all from a buffered line", `(?s)alpha.*`, 3, []string{"x", "alpha", "y", "z"}, []string{"alpha", "y", "z"}},
		{"the line has left the buffer", `(?s)alpha.*`, 3, []string{"alpha", "x", "y", "z"}, nil},
		{"unfilled slots are not reported", `(?s).*`, 10, []string{"a", "b"}, []string{"a", "b"}},
		{"begin of text never follows empty slots", `^only line`, 3, []string{"only line"}, nil},
		{"begin of text once the ring is full", `(?s)^.*only line`, 2, []string{"x", "only line"}, []string{"x", "only line"}},
		{"an earlier alternative matches a stale line", `oom-kill|Out of memory`, 3, []string{"oom-kill: x", "ready"}, []string{"oom-kill: x", "ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mon := monitorOf(tt.name, tt.size, tt.pattern)
			set, err := Compile(mon)
			if err != nil {
				t.Fatal(err)
			}
			buf := set.NewBuffer()
			start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
			var got []Match
			for i, msg := range tt.lines {
				got = buf.Push(Line{Seq: uint64(i), Time: start.Add(time.Duration(i) * time.Second), Message: msg}, got[:0])
			}
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("matched %s", describe(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("matches %s, want one", describe(got))
			}
			var msgs []string
			for _, l := range got[0].Lines {
				msgs = append(msgs, l.Message)
			}
			if !slices.Equal(msgs, tt.want) {
				t.Fatalf("lines %q, want %q", msgs, tt.want)
			}
			first := slices.Index(tt.lines, tt.want[0])
			if !got[0].Lines[0].Time.Equal(start.Add(time.Duration(first) * time.Second)) {
				t.Errorf("first line's time %v", got[0].Lines[0].Time)
			}
			if want := joinLines(tt.want); got[0].Message != want {
				t.Errorf("message %q, want %q", got[0].Message, want)
			}
			compare(t, mon, tt.lines)
		})
	}
}

func joinLines(ls []string) string {
	out := ""
	for i, l := range ls {
		if i > 0 {
			out += "\n"
		}
		out += l
	}
	return out
}

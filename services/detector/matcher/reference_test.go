package matcher

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// refBuffer is NPD's log buffer (pkg/systemlogmonitor/log_buffer.go), re-implemented plainly
// as the reference: a ring of max lines, String() joins every slot oldest first with "\n"
// (unfilled slots are ""), Match runs pattern + `\z` on it and walks back from the newest line.
type refBuffer struct {
	buffer  []*Line
	msg     []string
	max     int
	current int
}

func newRefBuffer(maxLines int) *refBuffer {
	return &refBuffer{buffer: make([]*Line, maxLines), msg: make([]string, maxLines), max: maxLines}
}

func (b *refBuffer) push(l Line) {
	b.buffer[b.current%b.max] = &l
	b.msg[b.current%b.max] = l.Message
	b.current++
}

func (b *refBuffer) String() string {
	logs := append(append([]string{}, b.msg[b.current%b.max:]...), b.msg[:b.current%b.max]...)
	return strings.Join(logs, "\n")
}

func (b *refBuffer) match(reg *regexp.Regexp) []Line {
	log := b.String()
	loc := reg.FindStringIndex(log)
	if loc == nil {
		return nil
	}
	s := len(log) - loc[0] - 1
	total := 0
	var matched []Line
	for i := b.current + b.max - 1; i >= b.current && b.buffer[i%b.max] != nil; i-- {
		matched = append(matched, *b.buffer[i%b.max])
		total += len(b.msg[i%b.max]) + 1
		if total > s {
			break
		}
	}
	for i := 0; i < len(matched)/2; i++ {
		matched[i], matched[len(matched)-i-1] = matched[len(matched)-i-1], matched[i]
	}
	return matched
}

// reference is NPD's parseLog loop over one monitor: push, then every rule in file order.
type reference struct {
	buf   *refBuffer
	rules []npdconfig.Rule
	res   []*regexp.Regexp
}

func newReference(t testing.TB, mon *npdconfig.Monitor) *reference {
	t.Helper()
	size := mon.BufferSize
	if size == 0 {
		size = npdconfig.DefaultBufferSize
	}
	r := &reference{buf: newRefBuffer(size), rules: mon.Rules}
	for _, rule := range mon.Rules {
		r.res = append(r.res, regexp.MustCompile(rule.Pattern+`\z`))
	}
	return r
}

func (r *reference) push(l Line) []Match {
	r.buf.push(l)
	var out []Match
	for i, re := range r.res {
		lines := r.buf.match(re)
		if len(lines) == 0 {
			continue
		}
		msgs := make([]string, len(lines))
		for j, l := range lines {
			msgs[j] = l.Message
		}
		out = append(out, Match{RuleIndex: i, Rule: &r.rules[i], Lines: lines, Message: strings.Join(msgs, "\n")})
	}
	return out
}

// diff describes how got differs from want, "" when they are the same.
func diff(want, got []Match) string {
	if len(want) != len(got) {
		return fmt.Sprintf("want %d matches %s, got %d %s", len(want), describe(want), len(got), describe(got))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.RuleIndex != g.RuleIndex || w.Message != g.Message || len(w.Lines) != len(g.Lines) ||
			*w.Rule != *g.Rule {
			return fmt.Sprintf("match %d: want %s, got %s", i, describe(want[i:i+1]), describe(got[i:i+1]))
		}
		for j := range w.Lines {
			if w.Lines[j].Seq != g.Lines[j].Seq || !w.Lines[j].Time.Equal(g.Lines[j].Time) ||
				w.Lines[j].Message != g.Lines[j].Message {
				return fmt.Sprintf("match %d line %d: want %+v, got %+v", i, j, w.Lines[j], g.Lines[j])
			}
		}
	}
	return ""
}

func describe(ms []Match) string {
	var b strings.Builder
	for _, m := range ms {
		seqs := make([]uint64, len(m.Lines))
		for i, l := range m.Lines {
			seqs[i] = l.Seq
		}
		fmt.Fprintf(&b, "[rule %d %q lines %v msg %q]", m.RuleIndex, m.Rule.Reason, seqs, m.Message)
	}
	return b.String()
}

// compare pushes msgs through the matcher and the reference and fails at the first
// difference. It returns how many matches there were.
func compare(t testing.TB, mon *npdconfig.Monitor, msgs []string) int {
	t.Helper()
	set, err := Compile(mon)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return compareSet(t, set, mon, msgs)
}

func compareSet(t testing.TB, set *Set, mon *npdconfig.Monitor, msgs []string) int {
	t.Helper()
	buf := set.NewBuffer()
	ref := newReference(t, mon)
	var got []Match
	n := 0
	for i, msg := range msgs {
		l := Line{Seq: uint64(i + 1), Message: msg}
		want := ref.push(l)
		got = buf.Push(l, got[:0])
		if d := diff(want, got); d != "" {
			t.Fatalf("%s: line %d %q (buffer %q): %s", mon.Path, i+1, msg, ref.buf.String(), d)
		}
		n += len(got)
	}
	return n
}

// monitorOf builds a monitor of temporary rules from patterns.
func monitorOf(name string, size int, patterns ...string) *npdconfig.Monitor {
	mon := &npdconfig.Monitor{Path: name, Source: "test", BufferSize: size}
	for i, p := range patterns {
		mon.Rules = append(mon.Rules, npdconfig.Rule{Type: npdconfig.Temporary, Reason: fmt.Sprintf("R%d", i), Pattern: p})
	}
	return mon
}

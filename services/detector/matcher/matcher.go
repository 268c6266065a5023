// Package matcher evaluates a Node Problem Detector system-log-monitor file's rules on a log
// stream with exactly NPD's results, much faster. NPD (pkg/systemlogmonitor/log_buffer.go)
// keeps the last bufferSize messages of a monitor in a ring and, for every new line and every
// rule in file order, matches pattern + `\z` against the ring joined by "\n" (unfilled slots
// are empty strings), then walks back from the newest line to report every line the match
// starts in or spans, oldest first; the message is those lines joined by "\n". That costs
// rules × buffer per line. Here a rule whose matches can only lie in the newest line (most
// are: see lastLineOnly) runs on that line alone, and only when one Aho-Corasick pass over
// the line found a literal every match must contain; the other rules keep NPD's buffer
// semantics, on one joined text built once per line.
package matcher

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// Line is one log line of a node's source.
type Line struct {
	Seq     uint64
	Time    time.Time
	Message string
}

// Match is a rule that matched after a line was pushed, as NPD reports it.
type Match struct {
	RuleIndex int             // index in the monitor's Rules
	Rule      *npdconfig.Rule // the Set's copy of the rule
	Lines     []Line          // the lines the match spans, oldest first; NPD's timestamp is Lines[0].Time
	Message   string          // NPD's message: the lines' messages joined by "\n"
}

// ruleMode is how a rule is evaluated.
type ruleMode uint8

const (
	modeLine      ruleMode = iota // the newest line alone, every line
	modeCandidate                 // the newest line alone, when the prefilter marks it
	modeBuffer                    // the joined buffer, as NPD does
)

type rule struct {
	re   *regexp.Regexp // pattern + `\z`, as NPD compiles it
	mode ruleMode
	req  []string // modeCandidate: one of these occurs in every match (ASCII-lowered if the prefilter lowers)
}

// Set is a monitor's compiled rules. It is immutable and safe for concurrent use by any
// number of Buffers.
type Set struct {
	size      int // bufferSize
	rules     []npdconfig.Rule
	compiled  []rule
	pre       *prefilter // nil when no rule is prefiltered
	hasBuffer bool       // some rule needs the joined buffer
}

// Compile compiles mon's rules. A bufferSize of 0 is NPD's default (10).
func Compile(mon *npdconfig.Monitor) (*Set, error) {
	if mon == nil {
		return nil, errors.New("compile rules: no monitor")
	}
	s := &Set{size: mon.BufferSize, rules: append([]npdconfig.Rule(nil), mon.Rules...)}
	if s.size == 0 {
		s.size = npdconfig.DefaultBufferSize
	}
	if s.size < 0 {
		return nil, fmt.Errorf("compile rules of %s: bufferSize %d: want a positive number of lines", mon.Path, mon.BufferSize)
	}
	parsed := make([]*syntax.Regexp, len(s.rules))
	lower := false
	for i := range s.rules {
		expr := s.rules[i].Pattern + `\z`
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("compile rules of %s: rules[%d].pattern %q: %w", mon.Path, i, s.rules[i].Pattern, err)
		}
		// regexp.Compile parses with syntax.Perl; the analysis must see the same tree.
		p, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			return nil, fmt.Errorf("compile rules of %s: rules[%d].pattern %q: %w", mon.Path, i, s.rules[i].Pattern, err)
		}
		mode := modeBuffer
		// With one slot the joined text is the newest message itself.
		if s.size == 1 || lastLineOnly(p) {
			mode = modeLine
			parsed[i] = p
			lower = lower || hasFoldCase(p)
		}
		s.compiled = append(s.compiled, rule{re: re, mode: mode})
		s.hasBuffer = s.hasBuffer || mode == modeBuffer
	}
	x := literalExtractor{lower: lower}
	reqs := map[int][]string{}
	for i, p := range parsed {
		if p == nil {
			continue
		}
		if req := x.required(p); req != nil {
			reqs[i] = req
			s.compiled[i].mode = modeCandidate
			s.compiled[i].req = req
		}
	}
	pre, err := newPrefilter(reqs, lower)
	if err != nil {
		return nil, fmt.Errorf("compile rules of %s: %w", mon.Path, err)
	}
	s.pre = pre
	return s, nil
}

// BufferSize is the number of lines a match may span.
func (s *Set) BufferSize() int { return s.size }

// Buffer is one node's state for one monitor: the last BufferSize lines. It is not safe
// for concurrent use.
type Buffer struct {
	set     *Set
	ring    []Line
	pushed  uint64   // lines pushed so far; the newest is ring[(pushed-1)%size]
	cand    []uint64 // prefilter marks, one bit per rule
	joined  []byte   // the joined buffer, rebuilt per line when a rule needs it
	scratch []byte   // the prefilter's copy of the line
}

// NewBuffer returns an empty buffer for s.
func (s *Set) NewBuffer() *Buffer {
	return &Buffer{
		set:  s,
		ring: make([]Line, s.size),
		cand: make([]uint64, (len(s.rules)+63)/64),
	}
}

// Push adds a line and appends the matches it causes to dst, in rule order, as NPD emits
// them.
func (b *Buffer) Push(l Line, dst []Match) []Match {
	s := b.set
	size := uint64(s.size)
	b.ring[b.pushed%size] = l
	b.pushed++
	if s.pre != nil {
		clear(b.cand)
		b.scratch = s.pre.mark(l.Message, b.scratch, b.cand)
	}
	if s.hasBuffer {
		b.join()
	}
	for i := range s.compiled {
		r := &s.compiled[i]
		switch r.mode {
		case modeCandidate:
			if b.cand[i/64]&(1<<(i%64)) == 0 {
				continue
			}
			fallthrough
		case modeLine:
			if r.re.MatchString(l.Message) {
				dst = append(dst, Match{RuleIndex: i, Rule: &s.rules[i], Lines: []Line{l}, Message: l.Message})
			}
		case modeBuffer:
			if loc := r.re.FindIndex(b.joined); loc != nil {
				dst = append(dst, b.spanned(i, len(b.joined)-loc[0]-1))
			}
		}
	}
	return dst
}

// join builds NPD's text: every slot oldest first, joined by "\n"; unfilled slots are empty.
func (b *Buffer) join() {
	size := uint64(b.set.size)
	b.joined = b.joined[:0]
	for k := range size {
		if k > 0 {
			b.joined = append(b.joined, '\n')
		}
		if i := b.pushed + k; i >= size { // slot i-size was pushed
			b.joined = append(b.joined, b.ring[i%size].Message...)
		}
	}
}

// spanned is NPD's walk-back: from the newest line, add lines while the lengths (each plus
// its '\n') do not yet exceed rev, the distance from the match start to the last byte. A match
// starting on the '\n' before a line is reported from that line; unfilled slots end the walk.
func (b *Buffer) spanned(ri, rev int) Match {
	size := uint64(b.set.size)
	var lines []Line
	total := 0
	for k := uint64(0); k < min(b.pushed, size); k++ {
		l := b.ring[(b.pushed-1-k)%size]
		lines = append(lines, l)
		total += len(l.Message) + 1
		if total > rev {
			break
		}
	}
	msgs := make([]string, len(lines))
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	for i, l := range lines {
		msgs[i] = l.Message
	}
	return Match{RuleIndex: ri, Rule: &b.set.rules[ri], Lines: lines, Message: strings.Join(msgs, "\n")}
}

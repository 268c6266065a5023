package matcher

import (
	"fmt"

	"github.com/coregx/ahocorasick"
)

// prefilter finds, in one Aho-Corasick pass over a line, which last-line rules may match it:
// each such rule has a set of strings one of which occurs in every match, so a rule none of
// whose strings occurs in the line cannot match and its regexp is not run.
type prefilter struct {
	ac    *ahocorasick.Automaton
	lower bool    // lines are ASCII-lowered before the pass (some rule is case-insensitive)
	rules [][]int // per automaton pattern, the rules that require it
}

// newPrefilter builds the automaton over reqs (rule index → required strings; rules without
// strings are not in it).
func newPrefilter(reqs map[int][]string, lower bool) (*prefilter, error) {
	p := &prefilter{lower: lower}
	ids := map[string]int{}
	var patterns []string
	for ri := range maxKey(reqs) + 1 {
		for _, s := range reqs[ri] {
			id, ok := ids[s]
			if !ok {
				id = len(patterns)
				ids[s] = id
				patterns = append(patterns, s)
				p.rules = append(p.rules, nil)
			}
			p.rules[id] = append(p.rules[id], ri)
		}
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	ac, err := ahocorasick.NewBuilder().AddStrings(patterns).Build()
	if err != nil {
		return nil, fmt.Errorf("build literal prefilter: %w", err)
	}
	p.ac = ac
	return p, nil
}

func maxKey(m map[int][]string) int {
	k := -1
	for i := range m {
		k = max(k, i)
	}
	return k
}

// mark sets the bit of every rule one of whose strings occurs in line. scratch is the
// caller's reusable copy buffer, returned grown.
func (p *prefilter) mark(line string, scratch []byte, cand []uint64) []byte {
	scratch = append(scratch[:0], line...)
	if p.lower {
		for i, c := range scratch {
			if 'A' <= c && c <= 'Z' {
				scratch[i] = c + 'a' - 'A'
			}
		}
	}
	// Overlapping: a string inside another rule's string must still mark its rule. The
	// library allocates only when something occurs, which is rare.
	for _, m := range p.ac.FindAllOverlapping(scratch) {
		for _, ri := range p.rules[m.PatternID] {
			cand[ri/64] |= 1 << (ri % 64)
		}
	}
	return scratch
}

package matcher

import (
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Limits of the literal analysis: an exact set grows by cross products and is cut into a
// requirement when it would exceed maxExact strings; a class of more than maxClassRunes runes
// is "any character".
const (
	maxExact      = 16
	maxClassRunes = 8
)

// litInfo is what the analysis knows about the strings a sub-expression matches.
type litInfo struct {
	// exact, when not nil, is every string the sub-expression can match (deduplicated;
	// may contain "").
	exact []string
	// must, when not nil, is a set of non-empty strings at least one of which every match
	// contains.
	must []string
	// prefix, when not nil, is a set of strings one of which every match starts with (for a
	// non-exact node; an exact node's prefixes are its exact strings).
	prefix []string
}

// prefixes is the set one of which every match of in starts with, nil when unknown.
func (in litInfo) prefixes() []string {
	if in.exact != nil {
		return in.exact
	}
	return in.prefix
}

// literalExtractor computes, for a parsed pattern, a set of strings one of which occurs in
// every match. With lower set, strings are ASCII-lowered, for comparison against lowered
// text: lowering is a byte map, so a substring of the text stays a substring of the lowered
// text, and case-insensitive literals (whose fold variants are ASCII) become one string.
type literalExtractor struct {
	lower bool
}

// required returns the requirement for re, or nil when every line must be a candidate.
func (x literalExtractor) required(re *syntax.Regexp) []string {
	return best(x.analyze(re))
}

func (x literalExtractor) analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: []string{""}}
	case syntax.OpLiteral:
		parts := make([]litInfo, len(re.Rune))
		for i, r := range re.Rune {
			parts[i] = x.runeSet([]rune{r, r}, re.Flags&syntax.FoldCase != 0)
		}
		return concat(parts)
	case syntax.OpCharClass:
		return x.runeSet(re.Rune, false)
	case syntax.OpCapture:
		return x.analyze(re.Sub[0])
	case syntax.OpQuest:
		s := x.analyze(re.Sub[0])
		if s.exact != nil && len(s.exact) < maxExact {
			return litInfo{exact: union(s.exact, []string{""})}
		}
		return litInfo{}
	case syntax.OpPlus:
		s := x.analyze(re.Sub[0])
		return litInfo{must: best(s), prefix: s.prefixes()}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			s := x.analyze(re.Sub[0])
			return litInfo{must: best(s), prefix: s.prefixes()}
		}
		return litInfo{}
	case syntax.OpConcat:
		parts := make([]litInfo, len(re.Sub))
		for i, s := range re.Sub {
			parts[i] = x.analyze(s)
		}
		return concat(parts)
	case syntax.OpAlternate:
		return x.alternate(re.Sub)
	}
	// OpAnyChar, OpAnyCharNotNL, OpStar, OpNoMatch: nothing known.
	return litInfo{}
}

// runeSet is the exact set of a class given as ranges, or of one rune (fold adds its case
// variants, as regexp matches them: the whole simple-fold orbit). U+FFFD is unknown: regexp
// matches it against invalid UTF-8 bytes, which are not its encoding.
func (x literalExtractor) runeSet(ranges []rune, fold bool) litInfo {
	var runes []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		if int(ranges[i+1])-int(ranges[i]) >= maxClassRunes {
			return litInfo{}
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			runes = append(runes, r)
			if len(runes) > maxClassRunes {
				return litInfo{}
			}
		}
	}
	if fold && len(runes) == 1 {
		for f := unicode.SimpleFold(runes[0]); f != runes[0]; f = unicode.SimpleFold(f) {
			runes = append(runes, f)
		}
	}
	var out []string
	for _, r := range runes {
		if r == utf8.RuneError {
			return litInfo{}
		}
		s := string(r)
		if x.lower {
			s = asciiLower(s)
		}
		out = union(out, []string{s})
	}
	if len(out) == 0 {
		return litInfo{} // an empty class matches nothing; say nothing rather than "never"
	}
	return litInfo{exact: out}
}

// concat combines consecutive parts: runs of exact parts multiply into exact sets while they
// stay small, and a run extends into the prefixes of the part that ends it; each run cut off,
// and each part's own requirement, is a candidate requirement.
func concat(parts []litInfo) litInfo {
	cur := []string{""}
	exact := true
	var prefix []string
	var cands [][]string
	cut := func(run []string) {
		if prefix == nil {
			prefix = run // every match starts with one of the first run's strings
		}
		cands = append(cands, run)
	}
	for _, p := range parts {
		if p.exact != nil {
			if c := cross(cur, p.exact); c != nil {
				cur = c
				continue
			}
			exact = false
			cut(cur)
			cur = p.exact
			continue
		}
		exact = false
		run := cur
		if p.prefix != nil {
			if c := cross(cur, p.prefix); len(c) > 0 {
				run = c
			}
		}
		cut(run)
		cands = append(cands, p.must)
		cur = []string{""}
	}
	if exact {
		return litInfo{exact: cur, must: best(litInfo{exact: cur})}
	}
	cands = append(cands, cur)
	var must []string
	for _, c := range cands {
		if better(c, must) {
			must = c
		}
	}
	return litInfo{must: must, prefix: prefix}
}

// alternate: exact when every branch is and the union is small; otherwise every match
// contains a string of some branch's requirement, so the union of requirements is one, if
// every branch has one.
func (x literalExtractor) alternate(subs []*syntax.Regexp) litInfo {
	infos := make([]litInfo, len(subs))
	var exact []string
	allExact := true
	for i, s := range subs {
		infos[i] = x.analyze(s)
		if infos[i].exact == nil {
			allExact = false
		} else if allExact {
			exact = union(exact, infos[i].exact)
		}
	}
	if allExact && len(exact) <= maxExact {
		return litInfo{exact: exact, must: best(litInfo{exact: exact})}
	}
	prefix := []string{}
	for _, in := range infos {
		p := in.prefixes()
		if p == nil {
			prefix = nil
			break
		}
		prefix = union(prefix, p)
	}
	if len(prefix) > maxExact {
		prefix = nil
	}
	var must []string
	for _, in := range infos {
		b := best(in)
		if b == nil {
			return litInfo{prefix: prefix}
		}
		must = union(must, b)
	}
	return litInfo{must: must, prefix: prefix}
}

// best picks the stronger usable set of an info, nil when neither is usable.
func best(in litInfo) []string {
	var out []string
	for _, s := range [][]string{in.exact, in.must} {
		if better(s, out) {
			out = s
		}
	}
	return out
}

// better reports whether set a is usable (non-empty, no empty string) and stronger than b:
// its shortest string is longer (rarer in text), then it has fewer strings.
func better(a, b []string) bool {
	minA, ok := minLen(a)
	if !ok {
		return false
	}
	minB, ok := minLen(b)
	if !ok {
		return true
	}
	if minA != minB {
		return minA > minB
	}
	return len(a) < len(b)
}

func minLen(set []string) (int, bool) {
	if len(set) == 0 {
		return 0, false
	}
	m := len(set[0])
	for _, s := range set {
		m = min(m, len(s))
	}
	return m, m > 0
}

// cross returns every a+b, or nil when there would be more than maxExact.
func cross(as, bs []string) []string {
	if len(as)*len(bs) > maxExact {
		return nil
	}
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			out = union(out, []string{a + b})
		}
	}
	return out
}

// union appends the strings of b not already in a.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// asciiLower lowers ASCII letters only, byte by byte, as the prefilter lowers lines.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

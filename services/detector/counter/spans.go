package counter

import "regexp/syntax"

// confinedToLastLine reports whether every match of pattern + `\z` against log-counter's
// joined buffer lies within the newest line and is found the same on that line alone, so a
// one-line buffer gives log-counter's results. It is conservative (false when unsure) and
// checks what the matcher's own classification checks: every match ends at the end of the
// text (NPD appends `\z` to the last branch of a top-level alternation only), no match can
// contain '\n', and no begin-of-text assertion (true at the start of a lone line only).
func confinedToLastLine(pattern string) bool {
	re, err := syntax.Parse(pattern+`\z`, syntax.Perl)
	if err != nil {
		return false
	}
	return endAnchored(re) && !mayContainNewline(re) && !hasBeginText(re)
}

func endAnchored(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEndText:
		return true
	case syntax.OpCapture:
		return endAnchored(re.Sub[0])
	case syntax.OpConcat:
		return len(re.Sub) > 0 && endAnchored(re.Sub[len(re.Sub)-1])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !endAnchored(s) {
				return false
			}
		}
		return len(re.Sub) > 0
	}
	return false
}

func mayContainNewline(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpAnyChar:
		return true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r == '\n' {
				return true
			}
		}
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
				return true
			}
		}
		return false
	}
	for _, s := range re.Sub {
		if mayContainNewline(s) {
			return true
		}
	}
	return false
}

func hasBeginText(re *syntax.Regexp) bool {
	if re.Op == syntax.OpBeginText {
		return true
	}
	for _, s := range re.Sub {
		if hasBeginText(s) {
			return true
		}
	}
	return false
}

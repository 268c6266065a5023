package matcher

import "regexp/syntax"

// lastLineOnly reports whether every match of re (NPD's pattern + `\z`, parsed) against the
// buffer's joined text lies inside the text after its last '\n', and is found exactly as it is
// when re runs on the newest message alone. Three things make that so:
//
//   - every match ends at the end of the text (a top-level alternation is not: NPD appends
//     `\z` to the last branch only);
//   - no match can contain '\n', so a match that ends at the end lies after the last '\n';
//   - no begin-of-text assertion (^ without (?m), \A): it holds at the start of the newest
//     message alone but not inside the joined text. (?m)^ and \b see the same context at
//     the start of the message in both texts: a '\n' before it, or nothing, is not a word
//     character and starts a line.
//
// When all three hold, NPD's walk-back reports only the newest line for any match.
func lastLineOnly(re *syntax.Regexp) bool {
	return endAnchored(re) && !consumesNewline(re) && !hasBeginText(re)
}

// endAnchored reports whether every match of re ends at the end of the text. It is
// conservative: false means "cannot tell".
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

// consumesNewline reports whether some match of re could contain '\n'. Negated classes
// ([^x], \D, \W) and \s contain it (regexp parses with ClassNL); (?s). does too.
func consumesNewline(re *syntax.Regexp) bool {
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
		if consumesNewline(s) {
			return true
		}
	}
	return false
}

// hasBeginText reports whether re contains a begin-of-text assertion anywhere.
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

// hasFoldCase reports whether re contains a case-insensitive literal, which makes the
// prefilter compare ASCII-lowered text.
func hasFoldCase(re *syntax.Regexp) bool {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase != 0 {
		return true
	}
	for _, s := range re.Sub {
		if hasFoldCase(s) {
			return true
		}
	}
	return false
}

// LastLineOnly reports whether a rule pattern, matched as NPD does (pattern + `\z` against the
// joined buffer), can only match within the newest line, so a one-line buffer gives the same
// results. It is conservative: false when unsure or when the pattern does not parse.
func LastLineOnly(pattern string) bool {
	re, err := syntax.Parse(pattern+`\z`, syntax.Perl)
	if err != nil {
		return false
	}
	return lastLineOnly(re)
}

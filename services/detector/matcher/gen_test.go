package matcher

import (
	"math/rand/v2"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line generators for the property tests.

// vocabulary mixes words of the shipped rules, kernel noise and bytes that stress the
// matcher: newlines inside a message, case variants, runes whose case folds leave ASCII
// (K is KELVIN SIGN, ſ is LONG S), U+FFFD and invalid UTF-8 that regexp decodes as U+FFFD.
var vocabulary = []string{
	"task", "docker:", "blocked", "for", "more", "than", "120", "seconds.", "Killed", "process",
	"total-vm:100kB,", "anon-rss:20kB,", "file-rss:3kB", "EXT4-fs", "error", "warning", "XFS",
	"Shutting", "down", "filesystem", "[Hardware", "Error]:", "event", "severity:", "fatal",
	"corrected", "alpha", "beta", "gamma", "first", "second", "only", "line", "Remounting",
	"read-only", "Started", "Kubernetes", "kubelet.", "Starting", "containerd", "runtime...",
	"\n", "\n", "K", "ſ", "\u212a", "\ufffd", "\xff", "\x80", "é", "É", "TASK", "Task", "x", "",
	" ", "  ", ":", "1", "0000", "[#1]", "SMP",
}

// randomLine joins a few random words.
func randomLine(rng *rand.Rand) string {
	n := rng.IntN(8)
	words := make([]string, n)
	for i := range words {
		if rng.IntN(10) == 0 {
			words[i] = randomBytes(rng, 1+rng.IntN(4))
		} else {
			words[i] = vocabulary[rng.IntN(len(vocabulary))]
		}
	}
	sep := " "
	if rng.IntN(4) == 0 {
		sep = ""
	}
	return strings.Join(words, sep)
}

func randomBytes(rng *rand.Rand, n int) string {
	const alphabet = "aAbBkKsS \n:.-_[]()0123456789\xff\xc3"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// generate returns a string built to match re (a parsed pattern) most of the time:
// assertions are not honoured, so some come out as near misses, which is also wanted.
func generate(rng *rand.Rand, re *syntax.Regexp) string {
	var b strings.Builder
	gen(rng, re, &b)
	return b.String()
}

func gen(rng *rand.Rand, re *syntax.Regexp, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				for range rng.IntN(4) { // any member of the case orbit: K, k, KELVIN SIGN
					r = unicode.SimpleFold(r)
				}
			}
			writeRune(rng, b, r)
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return
		}
		i := 2 * rng.IntN(len(re.Rune)/2)
		lo, hi := re.Rune[i], re.Rune[i+1]
		r := lo + rune(rng.Int64N(int64(min(hi-lo, 300))+1))
		if !utf8.ValidRune(r) {
			r = lo
		}
		writeRune(rng, b, r)
	case syntax.OpAnyCharNotNL:
		b.WriteByte("ab :K"[rng.IntN(5)])
	case syntax.OpAnyChar:
		b.WriteByte("ab :\n"[rng.IntN(5)])
	case syntax.OpCapture:
		gen(rng, re.Sub[0], b)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			gen(rng, s, b)
		}
	case syntax.OpAlternate:
		gen(rng, re.Sub[rng.IntN(len(re.Sub))], b)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 3
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 {
				hi = lo + 2
			}
		}
		for range lo + rng.IntN(min(hi-lo, 5)+1) {
			gen(rng, re.Sub[0], b)
		}
	}
}

// writeRune writes r; U+FFFD is written half the time as an invalid byte, which regexp
// decodes as U+FFFD.
func writeRune(rng *rand.Rand, b *strings.Builder, r rune) {
	if r == utf8.RuneError && rng.IntN(2) == 0 {
		b.WriteByte(0xff)
		return
	}
	b.WriteRune(r)
}

// nearMiss damages s a little: drop, change or insert a byte, flip the case of a letter, or
// cut it short.
func nearMiss(rng *rand.Rand, s string) string {
	if s == "" {
		return randomBytes(rng, 1)
	}
	i := rng.IntN(len(s))
	switch rng.IntN(5) {
	case 0:
		return s[:i] + s[i+1:]
	case 1:
		return s[:i] + randomBytes(rng, 1) + s[i+1:]
	case 2:
		return s[:i] + randomBytes(rng, 1) + s[i:]
	case 3:
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	return s[:i]
}

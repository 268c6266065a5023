// Package bytesparse holds the allocation-free line, field and number parsing that the
// collector's /proc and cgroup readers share. A collection pass parses thousands of small
// kernel files, so these work on the bytes of one read without converting to strings, and stay
// small enough for the compiler to inline where it can. Numbers are plain decimals as the kernel
// prints them (no sign on unsigned values, no underscores, no base prefixes); a bad number
// returns ErrSyntax and one that does not fit returns ErrRange, so callers can count and report
// the reason.
package bytesparse

import (
	"bytes"
	"errors"
	"math"
	"strconv"
)

// Errors of the number parsers; match them with errors.Is.
var (
	ErrSyntax = errors.New("syntax error")
	ErrRange  = errors.New("value out of range")
)

// NextLine returns the first line of b and the rest after its newline; rest is nil after the
// last line.
func NextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// Field returns the first field of b, separated by spaces or tabs, and the rest after the
// blanks that follow it. Leading blanks are skipped; f is empty when b holds no field.
func Field(b []byte) (f, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	b = b[i:]
	j := 0
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	f, rest = b[:j], b[j:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	return f, rest
}

// Fields splits b at runs of spaces and tabs into dst[:0], reusing dst's array so a caller
// that keeps dst across lines allocates only when a line has more fields than ever before.
func Fields(b []byte, dst [][]byte) [][]byte {
	dst = dst[:0]
	start := -1
	for i, c := range b {
		if c == ' ' || c == '\t' {
			if start >= 0 {
				dst = append(dst, b[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, b[start:])
	}
	return dst
}

// TrimSpace removes leading and trailing spaces, tabs and newlines: the only blanks kernel
// files hold. Unlike bytes.TrimSpace it leaves '\r', '\v', '\f' and Unicode spaces, which
// then fail the number parsers instead of being taken for blanks.
func TrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// Uint parses a decimal uint64: digits only, at least one. Overflow is ErrRange.
func Uint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrSyntax
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ErrSyntax
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, ErrRange
		}
		n = n*10 + d
	}
	return n, nil
}

// Int parses a decimal int64 with an optional minus sign (no plus sign).
func Int(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, err := Uint(b)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, ErrRange
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, ErrRange
	}
	return int64(u), nil
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// Float parses a non-negative finite decimal. The kernel's forms ("61.70", "3183.96") take an
// exact path without allocating: a mantissa below 2^53 divided by an exact power of ten is
// correctly rounded, so the result equals strconv.ParseFloat's. Anything else (exponents, more
// than 15 digits, ".5") goes to strconv; a negative, NaN or infinite value is ErrSyntax and an
// overflow ErrRange.
func Float(b []byte) (float64, error) {
	var mant uint64
	digits, frac := 0, -1
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0 && i > 0:
			frac = 0
		default:
			return slowFloat(b)
		}
		if digits > 15 {
			return slowFloat(b)
		}
	}
	if digits == 0 || frac == 0 {
		return slowFloat(b)
	}
	if frac < 0 {
		return float64(mant), nil
	}
	return float64(mant) / pow10[frac], nil
}

func slowFloat(b []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(b), 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, ErrRange
	}
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, ErrSyntax
	}
	return f, nil
}

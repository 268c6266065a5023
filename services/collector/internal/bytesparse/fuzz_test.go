package bytesparse

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzNumbers checks the number parsers against strconv: they accept exactly the kernel's forms
// that strconv accepts, give the same value, and tell overflow from bad syntax.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"0", "827052527", "18446744073709551615", "18446744073709551616",
		"-9223372036854775808", "-1", "+1", "", "0.00", "61.70", "3183.96", "1e3", ".5",
		"123456789012345", "1234567890123456.7", "NaN", "1e400", "1_0", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		u, err := Uint(b)
		wu, werr := strconv.ParseUint(s, 10, 64)
		if plus := strings.HasPrefix(s, "+"); !sameNumErr(err, werr, plus) || (err == nil && u != wu) {
			t.Fatalf("Uint(%q) = %d, %v; strconv gives %d, %v", s, u, err, wu, werr)
		}
		i, err := Int(b)
		wi, werr := strconv.ParseInt(s, 10, 64)
		if plus := strings.HasPrefix(s, "+"); !sameNumErr(err, werr, plus) || (err == nil && i != wi) {
			t.Fatalf("Int(%q) = %d, %v; strconv gives %d, %v", s, i, err, wi, werr)
		}
		x, err := Float(b)
		if err != nil {
			if x != 0 || (!errors.Is(err, ErrSyntax) && !errors.Is(err, ErrRange)) {
				t.Fatalf("Float(%q) = %v, %v", s, x, err)
			}
			return
		}
		wx, werr := strconv.ParseFloat(s, 64)
		if werr != nil || wx != x || x < 0 {
			t.Fatalf("Float(%q) = %v; strconv gives %v, %v", s, x, wx, werr)
		}
	})
}

// sameNumErr says whether our error matches strconv's; strconv also takes a leading '+',
// which the kernel never prints and we reject.
func sameNumErr(err, werr error, plus bool) bool {
	switch {
	case plus:
		return errors.Is(err, ErrSyntax)
	case werr == nil:
		return err == nil
	case errors.Is(werr, strconv.ErrRange):
		return errors.Is(err, ErrRange)
	default:
		return errors.Is(err, ErrSyntax)
	}
}

// FuzzSplit checks that NextLine, Field and Fields cut b the way the standard library's
// allocating splitters do, and that they lose no byte.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb\n", "  cpu0 1\t2  3 \n", "8:0 rbytes=1 wbytes=2\n\n", "\t\t"} {
		f.Add([]byte(s))
	}
	blank := func(r rune) bool { return r == ' ' || r == '\t' }
	f.Fuzz(func(t *testing.T, b []byte) {
		var lines [][]byte
		for rest := b; len(rest) > 0; {
			var line []byte
			line, rest = NextLine(rest)
			lines = append(lines, line)
		}
		want := bytes.Split(b, []byte("\n"))
		if len(b) > 0 && b[len(b)-1] == '\n' {
			want = want[:len(want)-1] // NextLine reports no empty line after the final newline
		}
		if len(b) > 0 && !equal(lines, want) {
			t.Fatalf("NextLine lines of %q = %q, want %q", b, lines, want)
		}

		wantFields := bytes.FieldsFunc(b, blank)
		if got := Fields(b, nil); !equal(got, wantFields) {
			t.Fatalf("Fields(%q) = %q, want %q", b, got, wantFields)
		}
		var viaField [][]byte
		for rest := b; ; {
			var fl []byte
			fl, rest = Field(rest)
			if len(fl) == 0 {
				if len(rest) != 0 {
					t.Fatalf("Field left %q after an empty field of %q", rest, b)
				}
				break
			}
			viaField = append(viaField, fl)
		}
		if !equal(viaField, wantFields) {
			t.Fatalf("Field walk of %q = %q, want %q", b, viaField, wantFields)
		}

		if got, want := TrimSpace(b), bytes.Trim(b, " \t\n"); !bytes.Equal(got, want) {
			t.Fatalf("TrimSpace(%q) = %q, want %q", b, got, want)
		}
	})
}

func equal(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

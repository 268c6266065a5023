package bytesparse

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestNextLine(t *testing.T) {
	tests := []struct {
		in        string
		line      string
		rest      string
		restIsNil bool
	}{
		{"", "", "", true},
		{"a", "a", "", true},
		{"a\n", "a", "", false},
		{"a\nb\n", "a", "b\n", false},
		{"\n\n", "", "\n", false},
	}
	for _, tt := range tests {
		line, rest := NextLine([]byte(tt.in))
		if string(line) != tt.line || string(rest) != tt.rest || (rest == nil) != tt.restIsNil {
			t.Errorf("NextLine(%q) = %q, %q (nil %v); want %q, %q (nil %v)",
				tt.in, line, rest, rest == nil, tt.line, tt.rest, tt.restIsNil)
		}
	}
}

func TestField(t *testing.T) {
	tests := []struct{ in, f, rest string }{
		{"", "", ""},
		{"   ", "", ""},
		{"usage_usec 123", "usage_usec", "123"},
		{" \tkey\t \tvalue more ", "key", "value more "},
		{"8:0 rbytes=1", "8:0", "rbytes=1"},
		{"last", "last", ""},
		{"a\nb", "a\nb", ""}, // newlines are not blanks: callers cut lines first
	}
	for _, tt := range tests {
		f, rest := Field([]byte(tt.in))
		if string(f) != tt.f || string(rest) != tt.rest {
			t.Errorf("Field(%q) = %q, %q; want %q, %q", tt.in, f, rest, tt.f, tt.rest)
		}
	}
}

func TestFields(t *testing.T) {
	tests := map[string][]string{
		"":                 nil,
		"   ":              nil,
		"a":                {"a"},
		"  cpu0 1\t2  3 ":  {"cpu0", "1", "2", "3"},
		"x\t\ty":           {"x", "y"},
		"some avg10=0.00 ": {"some", "avg10=0.00"},
	}
	for in, want := range tests {
		got := Fields([]byte(in), nil)
		var s []string
		for _, f := range got {
			s = append(s, string(f))
		}
		if strings.Join(s, "|") != strings.Join(want, "|") || len(s) != len(want) {
			t.Errorf("Fields(%q) = %q, want %q", in, s, want)
		}
	}
	// dst's array is reused.
	dst := make([][]byte, 0, 4)
	if got := Fields([]byte("a b"), dst); &got[:1][0] != &dst[:1][0] {
		t.Error("Fields did not reuse dst")
	}
}

func TestTrimSpace(t *testing.T) {
	tests := map[string]string{
		"":            "",
		" \t\n":       "",
		"  42  \n":    "42",
		"\tmax\n":     "max",
		"a b":         "a b",
		"\r5\r":       "\r5\r", // only the kernel's blanks
		"\n\n1\n2\n ": "1\n2",
	}
	for in, want := range tests {
		if got := TrimSpace([]byte(in)); string(got) != want {
			t.Errorf("TrimSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  error
	}{
		{"0", 0, nil},
		{"827052527", 827052527, nil},
		{"007", 7, nil},
		{"18446744073709551615", math.MaxUint64, nil},
		{"18446744073709551616", 0, ErrRange},
		{"99999999999999999999", 0, ErrRange},
		{"", 0, ErrSyntax},
		{"-1", 0, ErrSyntax},
		{"+1", 0, ErrSyntax},
		{"1a", 0, ErrSyntax},
		{" 1", 0, ErrSyntax},
		{"1\n", 0, ErrSyntax},
		{"1_000", 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := Uint([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Uint(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  error
	}{
		{"-1", -1, nil},
		{"100000", 100000, nil},
		{"-0", 0, nil},
		{"9223372036854775807", math.MaxInt64, nil},
		{"-9223372036854775808", math.MinInt64, nil},
		{"9223372036854775808", 0, ErrRange},
		{"-9223372036854775809", 0, ErrRange},
		{"-18446744073709551616", 0, ErrRange},
		{"", 0, ErrSyntax},
		{"-", 0, ErrSyntax},
		{"--1", 0, ErrSyntax},
		{"+1", 0, ErrSyntax},
		{"1e3", 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := Int([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Int(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFloatMatchesStrconv(t *testing.T) {
	for _, s := range []string{
		"0", "0.00", "1.59", "61.70", "3183.96", "8213412.55", "0.01", "100.00", "999999999999999",
		"123456789012.345", "0.1", "7", "20.97", "24.30",
		// Beyond the fast path: strconv decides.
		"1234567890123456.7", "1e3", ".5", "5.", "0.0000000000000001", "1e-400",
	} {
		got, err := Float([]byte(s))
		want, werr := strconv.ParseFloat(s, 64)
		if err != nil || werr != nil || got != want {
			t.Errorf("Float(%q) = %v, %v; strconv gives %v, %v", s, got, err, want, werr)
		}
	}
}

func TestFloatRejects(t *testing.T) {
	tests := []struct {
		in  string
		err error
	}{
		{"", ErrSyntax},
		{".", ErrSyntax},
		{"-1", ErrSyntax},
		{"1.2.3", ErrSyntax},
		{"x", ErrSyntax},
		{"1,5", ErrSyntax},
		{"NaN", ErrSyntax},
		{"Inf", ErrSyntax},
		{"--", ErrSyntax},
		{"1e400", ErrRange},
		{"-1e400", ErrRange},
	}
	for _, tt := range tests {
		if v, err := Float([]byte(tt.in)); !errors.Is(err, tt.err) || v != 0 {
			t.Errorf("Float(%q) = %v, %v; want %v", tt.in, v, err, tt.err)
		}
	}
}

// The parsers are on the collector's hot path: a regression to allocating fails here, not only
// in a benchmark nobody reads.
func TestZeroAllocs(t *testing.T) {
	line := []byte("  cpu0 4705 356 584 3699176 23060 0 277 0 0 0\nrest\n")
	dst := make([][]byte, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		l, _ := NextLine(line)
		f, rest := Field(l)
		dst = Fields(rest, dst)
		_, _ = Uint(dst[0])
		_, _ = Int([]byte("-1"))
		_, _ = Float([]byte("3183.96"))
		_, _ = Uint([]byte("x"))
		_ = TrimSpace(f)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

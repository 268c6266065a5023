package matcher

import (
	"regexp/syntax"
	"slices"
	"testing"
)

func parseNPD(t *testing.T, pattern string) *syntax.Regexp {
	t.Helper()
	re, err := syntax.Parse(pattern+`\z`, syntax.Perl)
	if err != nil {
		t.Fatalf("parse %q: %v", pattern, err)
	}
	return re
}

// TestLastLineOnly pins the verdict for each pattern shape.
func TestLastLineOnly(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{`EXT4-fs error .*`, true},
		{`task [\S ]+:\w+ blocked for more than \w+ seconds\.`, true},
		{`.*\[Hardware Error\]: event severity: fatal$`, true},
		{`alpha$`, true},
		{`\balpha\b`, true},
		{`(?m)^line \w+$`, true}, // (?m)^ holds after the separator and at the start alone
		{`(alpha|beta) gamma`, true},
		{`[^x\n]+`, true},
		{`a*`, true},
		{``, true},
		{`(?i)alpha`, true},
		// A negated class, \s, [[:space:]], \D or (?s). holds the newline.
		{`[^x]+`, false},
		{`alpha\sbeta`, false},
		{`alpha[[:space:]]beta`, false},
		{`\D+`, false},
		{`(?s)alpha.*beta`, false},
		{`alpha[\s\S]*beta`, false},
		{`alpha[\x00-\x7f]beta`, false},
		{"alpha\nbeta", false},
		{`alpha(beta|\n)`, false},
		// Begin of text is the start of the oldest slot in NPD's joined text.
		{`^alpha`, false},
		{`\Aalpha`, false},
		{`(?:^|x)alpha`, false},
		// NPD appends \z to the last branch only: earlier branches match anywhere in the buffer.
		{`alpha|beta`, false},
		{`oom-kill|Out of memory`, false},
		{`alpha|`, false},
		// \Q without \E quotes NPD's \z too: nothing anchors the end.
		{`\Qalpha`, false},
	}
	for _, tt := range tests {
		if got := lastLineOnly(parseNPD(t, tt.pattern)); got != tt.want {
			t.Errorf("lastLineOnly(%q) = %v, want %v", tt.pattern, got, tt.want)
		}
	}
}

// TestRequiredLiterals pins the strings the prefilter looks for: the strongest of a rule's
// literals, nil where none is required.
func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		pattern string
		lower   bool
		want    []string
	}{
		{`Killed process \d+ (.+) total-vm:\d+kB, anon-rss:\d+kB, file-rss:\d+kB.*`, false, []string{"Killed process "}},
		{`task [\S ]+:\w+ blocked for more than \w+ seconds\.`, false, []string{" blocked for more than "}},
		{`XFS .* Shutting down filesystem.?`, false, []string{" Shutting down filesystem"}},
		{`.*\[Hardware Error\]: event severity: fatal$`, false, []string{"[Hardware Error]: event severity: fatal"}},
		{`Started (Kubernetes kubelet|kubelet.service|kubelet.service - .*).`, false, []string{"Started Kubernetes kubelet", "Started kubelet"}},
		{`colou?r`, false, []string{"colour", "color"}},
		{`(alpha|beta) gamma`, false, []string{"alpha gamma", "beta gamma"}},
		{`[Ee]rror: \d+`, false, []string{"Error: ", "error: "}},
		{`(?i)error: \d+`, true, []string{"error: "}},
		// Runes whose case folds leave ASCII keep their variants.
		{`(?i)kill`, true, []string{"kill", "\u212aill"}},
		{`(?i)é`, true, []string{"É", "é"}},
		{`(?i)Er`, false, []string{"ER", "Er", "eR", "er"}}, // without lowering, case variants
		{`(?i)Error`, false, []string{"ERRO", "ERRo", "ERrO", "ERro", "ErRO", "ErRo", "ErrO", "Erro",
			"eRRO", "eRRo", "eRrO", "eRro", "erRO", "erRo", "errO", "erro"}}, // 32 would be too many
		{`ERROR`, true, []string{"error"}},
		{`a+b`, false, []string{"a"}},     // no suffix tracking: not "ab"
		{`(ab)+c`, false, []string{"ab"}}, // nor "abc"
		// Nothing to require.
		{`.*`, false, nil},
		{`a*`, false, nil},
		{``, false, nil},
		{`alpha|.*`, false, nil},
		{`\d+`, false, nil},
		// U+FFFD also matches invalid UTF-8, which is not its encoding.
		{"\ufffd", false, nil},
		{"[\ufffd-\ufffe]x", false, []string{"x"}},
	}
	for _, tt := range tests {
		got := literalExtractor{lower: tt.lower}.required(parseNPD(t, tt.pattern))
		if !slices.Equal(got, tt.want) {
			t.Errorf("required(%q, lower=%v) = %q, want %q", tt.pattern, tt.lower, got, tt.want)
		}
	}
}

package matcher

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzMatcher checks the matcher against NPD's algorithm on fuzzed patterns (separated by
// \x1e), line sequences (separated by \x1f; '\n' may occur inside a line) and buffer sizes.
func FuzzMatcher(f *testing.F) {
	kmsg := readLines(f, filepath.Join("testdata", "kmsg.txt"))
	for _, mon := range append(compatMonitors(f), spanningMonitors(f)...) {
		var pats []string
		for _, r := range mon.Rules {
			pats = append(pats, r.Pattern)
		}
		for i := 0; i+4 <= len(pats); i += 4 {
			f.Add(strings.Join(pats[i:i+4], "\x1e"), strings.Join(kmsg[i:i+8], "\x1f"), uint8(mon.BufferSize))
		}
	}
	f.Add(`alpha\nbeta`+"\x1e"+`(?i)kill`+"\x1e"+`\nbeta`, "alpha\x1fbeta\x1f\u212aill\x1f\xff", uint8(3))
	f.Add(`(?s)first.*second`+"\x1e"+`^x|y`, "first\x1f\x1fsecond\x1fx\ny", uint8(2))
	f.Fuzz(func(t *testing.T, patterns, lines string, size uint8) {
		pats := strings.Split(patterns, "\x1e")
		if len(pats) > 4 || len(lines) > 4096 {
			return
		}
		for _, p := range pats {
			// npdconfig refuses what does not compile.
			if len(p) > 80 {
				return
			}
			if _, err := regexp.Compile(p); err != nil {
				return
			}
			if _, err := regexp.Compile(p + `\z`); err != nil {
				return
			}
		}
		mon := monitorOf("fuzz", int(size%6), pats...)
		msgs := strings.Split(lines, "\x1f")
		if len(msgs) > 64 {
			msgs = msgs[:64]
		}
		set, err := Compile(mon)
		if err != nil {
			t.Fatalf("Compile(%q): %v", pats, err)
		}
		checkPrefilterSound(t, set, msgs)
		compareSet(t, set, mon, msgs)
	})
}

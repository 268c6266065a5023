package npdconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no file content panics, that every refusal is a *LoadError, and that
// every accepted monitor is whole: a known plugin, a source, and compiled expressions.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata", compatDir(f)} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.json", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || le.Path != "fuzz.json" {
				t.Fatalf("error %v is not a *LoadError", err)
			}
			return
		}
		switch m.Plugin {
		case PluginKmsg, PluginJournald:
		case PluginFilelog:
			if m.TimestampRegexp() == nil || m.MessageRegexp() == nil {
				t.Fatal("filelog without compiled expressions")
			}
		default:
			t.Fatalf("plugin %q accepted", m.Plugin)
		}
		if m.Source == "" || m.BufferSize <= 0 || m.Lookback < 0 {
			t.Fatalf("accepted %+v", m)
		}
		for i, r := range m.Rules {
			if r.Regexp() == nil {
				t.Fatalf("rule %d not compiled", i)
			}
		}
	})
}

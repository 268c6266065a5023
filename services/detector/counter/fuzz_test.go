package counter

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// Parse never panics: any input loads or is a LoadError; a loaded file evaluates lines.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	bad, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.json"))
	for _, p := range append(seeds, bad...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.json", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("%T is not a LoadError: %v", err, err)
			}
			return
		}
		n := file.NewNode()
		for _, src := range file.Sources() {
			n.Observe(src, matcher.Line{Seq: 1, Time: t0, Message: string(data)})
		}
		n.Tick(t0.Add(time.Hour))
	})
}

package healthrules

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse checks that no file content panics, that every refusal is a *LoadError naming the
// file, and that every accepted config is whole: known metrics and operators, a trigger for every
// health rule, no negative durations, and a Node that evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/bad/*.yaml", "defaults.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("healthRules: [{condition: A, component: '*', failures: 1, reason: R, clearReason: C}]"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || le.Path != "fuzz.yaml" {
				t.Fatalf("error %v is not a *LoadError for the file", err)
			}
			return
		}
		for i, r := range c.HealthRules {
			if len(r.Components) == 0 || r.Failures < 0 || r.FailingFor < 0 || r.Failures == 0 && r.FailingFor == 0 || r.Successes < 1 {
				t.Fatalf("health rule %d accepted: %+v", i, r)
			}
		}
		for i, r := range c.ThresholdRules {
			if r.metric == nil || !slices.Contains(ops, r.Op) || r.For < 0 || r.ClearFor < 0 {
				t.Fatalf("threshold rule %d accepted: %+v", i, r)
			}
		}
		n := c.NewNode()
		for _, cd := range c.Conditions() {
			n.Restore(cd.Type, true)
		}
		n.Health(fail("kubelet", 1, 0))
		n.Health(ok("systemd/x", 2, s10))
		n.Sample(smp(1, 0).mem(0.01).fs("/", .99).inodes(.99).ioFull(90).NodeSample)
		n.Sample(smp(2, m).NodeSample)
	})
}

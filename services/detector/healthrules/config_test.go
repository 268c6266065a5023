package healthrules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// TestParseBad loads every file of testdata/bad and checks the error names the file, the rule
// (by index), the field and the value, and is a configuration error (exit 2).
func TestParseBad(t *testing.T) {
	tests := []struct {
		file         string
		field, value string // LoadError.Field, .Value; field "" for whole-file errors
		reason       string // part of the reason
	}{
		{"unknown-field", "healthRules[1].clearfor", "5m", "unknown field"},
		{"unknown-top", "healthrules", `[{"condition":"KubeletUnhealthy"}]`, "unknown field; want one of healthRules, thresholdRules"},
		{"bad-op", "thresholdRules[0].op", "=>", "want one of <, <=, >, >="},
		{"unquoted-op", "thresholdRules[0].op", "", `quote it in YAML`},
		{"negative-duration", "thresholdRules[1].for", "-5m", "negative"},
		{"duration-without-unit", "healthRules[0].failingFor", "120", "with a unit"},
		{"unknown-metric", "thresholdRules[0].metric", "memory_free_percent", "unknown metric"},
		{"duplicate-condition", "thresholdRules[1].condition", "DiskSpaceLow", "also set by thresholdRules[0]"},
		{"duplicate-condition-kind", "thresholdRules[0].condition", "NodeUnhappy", "also set by healthRules[0]"},
		{"kubelet-condition", "thresholdRules[0].condition", "MemoryPressure", "the kubelet sets this condition"},
		{"ratio-as-percent", "thresholdRules[0].threshold", "90", "write 0.9 for 90%"},
		{"clear-threshold-wrong-side", "thresholdRules[0].clearThreshold", "0.05", "at or above the threshold 0.1"},
		{"mountpoint-on-node-metric", "thresholdRules[0].mountpoint", "/", "only filesystem metrics"},
		{"bad-mountpoint-pattern", "thresholdRules[0].mountpoint", "/var/[lib", "bad pattern"},
		{"missing-threshold", "thresholdRules[0].threshold", "", "missing"},
		{"no-trigger", "healthRules[0].failures", "0", "set failures, failingFor or both"},
		{"zero-successes", "healthRules[0].successes", "0", "want 1 or more"},
		{"negative-failures", "healthRules[0].failures", "-1", "want 0 (off) or more"},
		{"failures-not-a-number", "healthRules[0].failures", "three", "want a whole number"},
		{"missing-component", "healthRules[0].component", "", "missing"},
		{"bad-component-pattern", "healthRules[0].component[1]", "cri-[o", "bad pattern"},
		{"bad-severity", "healthRules[0].severity", "fatal", "want info, warning or critical"},
		{"bad-condition-name", "healthRules[0].condition", "kubelet unhealthy", "CamelCase"},
		{"missing-clear-reason", "healthRules[0].clearReason", "", "CamelCase"},
		{"syntax-error", "", "", "invalid YAML: yaml: line 3: mapping values are not allowed"},
		{"duplicate-key", "", "", `invalid YAML: yaml: unmarshal errors: line 5: key "failures" already set`},
		{"rules-not-a-list", "healthRules", "a mapping", "want a list of rules"},
		{"rule-not-a-mapping", "thresholdRules[0]", "a string", "want a mapping"},
		{"not-a-mapping", "", "", "want a mapping"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file+".yaml")
			seen[path] = true
			c, err := Load(path)
			if err == nil {
				t.Fatalf("loaded %+v; want an error", c)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LoadError", err)
			}
			if le.Path != path || le.Field != tt.field || le.Value != tt.value || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got path %q field %q value %q (%v); want field %q value %q reason containing %q",
					le.Path, le.Field, le.Value, err, tt.field, tt.value, tt.reason)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || tt.field != "" && (!strings.Contains(msg, tt.field) || !strings.Contains(msg, strconv.Quote(tt.value))) {
				t.Errorf("message %q does not name the file, field and value", msg)
			}
			var ce *config.Error
			if !errors.As(err, &ce) || !config.IsConfigError(err) || ce.Flag != Flag || ce.Value != path ||
				!strings.Contains(ce.Error(), tt.field) {
				t.Errorf("not a configuration error naming --%s and the file: %v", Flag, ce)
			}
		})
	}
	// Every bad file has a case, so a new one cannot go untested.
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	for _, f := range files {
		if !seen[f] {
			t.Errorf("%s has no test case", f)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, fs.ErrNotExist) || !config.IsConfigError(err) {
		t.Fatalf("got %v; want a *LoadError wrapping fs.ErrNotExist", err)
	}
}

func TestParseGood(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HealthRules) != 5 || len(c.ThresholdRules) != 5 {
		t.Fatalf("%d health and %d threshold rules; want 5 and 5", len(c.HealthRules), len(c.ThresholdRules))
	}
	k := c.HealthRules[0]
	if k.Failures != 3 || k.Successes != 2 || k.FailingFor != 0 || k.Severity != SeverityCritical || !slices.Equal(k.Components, []string{"kubelet"}) {
		t.Errorf("kubelet rule %+v", k)
	}
	if r := c.HealthRules[1]; r.FailingFor != time.Minute || r.Successes != 1 || r.Severity != SeverityWarning || r.ClearMessage != "" {
		t.Errorf("defaults not applied: %+v", r)
	}
	if r := c.HealthRules[3]; !slices.Equal(r.Components, []string{"crio", "docker"}) {
		t.Errorf("component list %q", r.Components)
	}
	m := c.ThresholdRules[0]
	if m.Op != "<" || m.Threshold != 0.05 || m.ClearThreshold != 0.10 || m.For != 5*time.Minute || m.ClearFor != time.Minute {
		t.Errorf("memory rule %+v", m)
	}
	if r := c.ThresholdRules[2]; r.ClearThreshold != r.Threshold || r.For != 0 {
		t.Errorf("clearThreshold should default to threshold: %+v", r)
	}
	wantConds := []Condition{
		{"KubeletUnhealthy", "KubeletIsHealthy", "kubelet is healthy", SeverityCritical, SourceHealth},
		{"RuntimeStuck", "RuntimeResponds", "", SeverityWarning, SourceHealth},
		{"SystemdUnitFailed", "UnitsActive", "every watched unit is active", SeverityInfo, SourceHealth},
		{"RuntimeDown", "RuntimeUp", "runtime is up", SeverityWarning, SourceHealth},
		{"NodeMemoryLow", "NodeHasMemory", "node has memory", SeverityWarning, SourceThreshold},
		{"DiskSpaceLow", "DiskSpaceOK", "disk space is fine", SeverityWarning, SourceThreshold},
		{"IOStalled", "IONotStalled", "", SeverityCritical, SourceThreshold},
		{"InodesLow", "InodesOK", "", SeverityWarning, SourceThreshold},
	}
	if got := c.Conditions(); !reflect.DeepEqual(got, wantConds) {
		t.Errorf("Conditions():\n got %+v\nwant %+v", got, wantConds)
	}
}

// JSON is YAML: a JSON file loads the same.
func TestParseJSON(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "rules.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HealthRules) != 1 || c.HealthRules[0].FailingFor != 2*time.Minute ||
		len(c.ThresholdRules) != 1 || c.ThresholdRules[0].For != 10*time.Minute {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseEmpty(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("testdata", "empty.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{string(file), "", "healthRules: []\nthresholdRules:\n", "{}"} {
		c, err := Parse("empty.yaml", []byte(data))
		if err != nil || len(c.HealthRules)+len(c.ThresholdRules) != 0 || len(c.Conditions()) != 0 {
			t.Errorf("%q: %+v, %v; want an empty config", data, c, err)
		}
		n := c.NewNode()
		if ch := n.Health(fail("kubelet", 1, 0)); ch != nil {
			t.Errorf("empty config changed %v", ch)
		}
	}
}

// The README documents every metric and every field, and shows the shipped defaults.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, m := range metricList {
		if !strings.Contains(readme, "`"+m.name+"`") {
			t.Errorf("README does not document metric %s", m.name)
		}
	}
	for _, f := range append(append(slices.Clone(healthFields), thresholdFields...), topFields...) {
		if !strings.Contains(readme, "`"+f+"`") {
			t.Errorf("README does not document field %s", f)
		}
	}
	for _, c := range Default().Conditions() {
		if !strings.Contains(readme, c.Type) {
			t.Errorf("README does not mention default condition %s", c.Type)
		}
	}
}

package counter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// compatDir is ../shared/compat/npd beside the workspace (the directory holding go.work): NPD's
// own configuration files, unchanged.
func compatDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "..", "shared", "compat", "npd")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = parent
	}
}

func load(t testing.TB, path string) *File {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// NPD's own kernel-monitor-counter.json loads unchanged into one counter rule.
func TestLoadNPDCounterFile(t *testing.T) {
	f := load(t, filepath.Join(compatDir(t), "kernel-monitor-counter.json"))
	if f.Source != "kernel-monitor" || f.InvokeInterval != 5*time.Minute || f.MaxOutputLength != 80 {
		t.Errorf("file: source %q, invoke interval %v, max output %d", f.Source, f.InvokeInterval, f.MaxOutputLength)
	}
	want := npdconfig.Condition{Type: "FrequentUnregisterNetDevice", Reason: "NoFrequentUnregisterNetDevice", Message: "node is functioning properly"}
	if len(f.Conditions) != 1 || f.Conditions[0] != want {
		t.Errorf("conditions %+v", f.Conditions)
	}
	if len(f.Rules) != 1 {
		t.Fatalf("%d rules", len(f.Rules))
	}
	r := f.Rules[0]
	if r.Type != npdconfig.Permanent || r.Condition != "FrequentUnregisterNetDevice" || r.Reason != "UnregisterNetDevice" ||
		r.JournaldSource != "kernel" || r.LogSource != "kernel-monitor" || r.Count != 3 || r.Window != 20*time.Minute ||
		r.RevertPattern != nil || r.Pattern.String() != `unregister_netdevice: waiting for \w+ to become free. Usage count = \d+` {
		t.Errorf("rule %+v", r)
	}
	if got := f.Sources(); len(got) != 1 || got[0] != "kernel-monitor" {
		t.Errorf("sources %v", got)
	}
	if r.set.BufferSize() != 1 {
		t.Errorf("a one-line pattern got a buffer of %d lines", r.set.BufferSize())
	}
}

func TestLoadVariants(t *testing.T) {
	tests := []struct {
		file    string
		check   func(t *testing.T, f *File)
		sources []string
	}{
		{"revert-and-temporary.json", func(t *testing.T, f *File) {
			r := f.Rules[0]
			if r.Count != 2 || r.Window != 10*time.Minute || r.RevertPattern == nil || r.Severity != "critical" || !r.Reboot {
				t.Errorf("rule 0 %+v", r)
			}
			if r := f.Rules[1]; r.Type != npdconfig.Temporary || r.LogSource != "docker-monitor" || r.Window != time.Minute {
				t.Errorf("rule 1 %+v", r)
			}
			if f.InvokeInterval != 5*time.Minute {
				t.Errorf("invoke interval %v", f.InvokeInterval)
			}
		}, []string{"kernel-monitor", "docker-monitor"}},
		{"multiline.json", func(t *testing.T, f *File) {
			if f.InvokeInterval != DefaultInvokeInterval || f.MaxOutputLength != DefaultMaxOutputLength {
				t.Errorf("defaults: %v %d", f.InvokeInterval, f.MaxOutputLength)
			}
			if n := f.Rules[0].set.BufferSize(); n != logCounterBuffer {
				t.Errorf("a pattern spanning lines got a buffer of %d lines, want log-counter's %d", n, logCounterBuffer)
			}
		}, []string{"hung-monitor"}},
		{"two-rules.json", func(t *testing.T, f *File) {
			if len(f.Rules) != 2 || f.Rules[1].Count != 1 {
				t.Errorf("rules %+v", f.Rules)
			}
		}, []string{"kernel-monitor"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := load(t, filepath.Join("testdata", tt.file))
			tt.check(t, f)
			if got := strings.Join(f.Sources(), ","); got != strings.Join(tt.sources, ",") {
				t.Errorf("sources %s, want %v", got, tt.sources)
			}
		})
	}
}

// Every bad file is a configuration error naming the file, the field, the value and why.
func TestLoadBadFiles(t *testing.T) {
	tests := []struct {
		file  string
		want  string // after "load <path>: "
		other bool   // another kind of custom-plugin file
	}{
		{"args-not-list.json", `rules[0].args "string": wrong JSON type: want a list`, false},
		{"bad-count.json", `rules[0].args --count "three": want a whole number of at least 1`, false},
		{"zero-count.json", `rules[0].args --count "0": want a whole number of at least 1`, false},
		{"bad-invoke-interval.json", `pluginConfig.invoke_interval "often": want a positive Go duration`, false},
		{"bad-max-output.json", `pluginConfig.max_output_length "\"80\"": want a positive whole number`, false},
		{"bad-lookback.json", `rules[0].args --lookback "20 minutes": want a positive Go duration`, false},
		{"missing-lookback.json", `rules[0].args --lookback "": missing`, false},
		{"bad-pattern.json", `rules[0].args --pattern "waiting for (\\w+": missing closing )`, false},
		{"bad-revert-pattern.json", `rules[0].args --revert-pattern "[z-a]": invalid character class range`, false},
		{"missing-pattern.json", `rules[0].args --pattern "": missing or empty`, false},
		{"unknown-flag.json", `rules[0].args "--since=1h": unknown log-counter flag`, false},
		{"positional-arg.json", `rules[0].args "kernel": unexpected argument`, false},
		{"flag-without-value.json", `rules[0].args "--pattern": the flag needs a value`, false},
		{"unknown-journald-source.json", `rules[0].args --journald-source "kubelet": no nodewarden log monitor is known to carry it`, false},
		{"missing-journald-source.json", `rules[0].args --journald-source "": missing`, false},
		{"delay.json", `rules[0].args --delay "5m": not supported by counter rules`, false},
		{"bad-type.json", `rules[0].type "sometimes": want temporary or permanent`, false},
		{"undeclared-condition.json", `rules[0].condition "NoSuchCondition": a permanent rule needs one of the file's conditions`, false},
		{"no-reason.json", `rules[0].reason "": empty`, false},
		{"reboot-temporary.json", `rules[0].reboot "true": only a permanent rule`, false},
		{"bad-severity.json", `rules[0].severity "fatal": want info, warning or critical`, false},
		{"duplicate-condition.json", `conditions[1].type "FrequentUnregisterNetDevice": declared twice`, false},
		{"no-source.json", `source "": empty`, false},
		{"syntax-error.json", `invalid JSON at line 4, column 26`, false},
		{"not-an-object.json", `got a JSON array, want an object`, false},
		{"not-custom.json", `plugin "kmsg": not a custom-plugin-monitor file`, false},
		{"script.json", `rules[0].path "./config/plugin/check_ntp.sh": a plugin script, which nodewarden does not run`, true},
		{"no-rules.json", `rules "[]": no rules: a custom-plugin-monitor file loads only when its rules run NPD's log-counter`, true},
		{"mixed.json", `rules[1].path "./config/plugin/check_ntp.sh": a plugin script beside log-counter rules`, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file)
			_, err := Load(path)
			checkLoadError(t, err, path, tt.want, tt.other)
		})
	}
}

// NPD's other custom-plugin files are refused, saying what replaces them.
func TestRefuseNPDScripts(t *testing.T) {
	tests := []struct{ file, want string }{
		{"custom-plugin-monitor.json", `rules[0].path "./config/plugin/check_ntp.sh": a plugin script, which nodewarden does not run`},
		{"health-checker-kubelet.json", `NPD's health-checker (--component=kubelet), which nodewarden does not run: the collector checks kubelet health itself and nodewarden health rules`},
		{"health-checker-docker.json", `the shipped defaults already set ContainerRuntimeUnhealthy`},
		{"health-checker-containerd.json", `(--component=cri)`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(compatDir(t), tt.file)
			_, err := Load(path)
			checkLoadError(t, err, path, tt.want, true)
			if !strings.Contains(err.Error(), "health rules") {
				t.Errorf("%v does not name health rules", err)
			}
		})
	}
}

func checkLoadError(t *testing.T, err error, path, want string, other bool) {
	t.Helper()
	if err == nil {
		t.Fatal("loaded")
	}
	if !strings.HasPrefix(err.Error(), "load "+path+": ") || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant it to hold %q", err, want)
	}
	var le *LoadError
	if !errors.As(err, &le) || le.Other != other {
		t.Errorf("LoadError.Other = %v, want %v", le != nil && le.Other, other)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Flag != Flag || ce.Value != path {
		t.Errorf("not a configuration error naming --%s and the file: %v", Flag, ce)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.json"))
	if !errors.Is(err, os.ErrNotExist) || !config.IsConfigError(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestConfinedToLastLine(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{`unregister_netdevice: waiting for \w+ to become free. Usage count = \d+`, true},
		{`a|b`, false},         // `\z` anchors only the last branch
		{`(a|b)`, true},        // both branches end at `\z`
		{`x\s+y`, false},       // \s holds '\n'
		{`[^x]+`, false},       // so does a negated class
		{`(?s)a.b`, false},     // and (?s).
		{`^kernel: .*`, false}, // ^ holds only at the start of the whole buffer
		{`(?m)^kernel: .*`, true},
		{`a\nb`, false},
		{`(`, false},
	}
	for _, tt := range tests {
		if got := matcher.LastLineOnly(tt.pattern); got != tt.want {
			t.Errorf("matcher.LastLineOnly(%q) = %v, want %v", tt.pattern, got, tt.want)
		}
	}
}

package npdconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// compatDir is ../shared/compat/npd from the workspace root (the directory holding go.work):
// NPD's own configuration files, unchanged.
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

func TestLoadNPDFiles(t *testing.T) {
	tests := []struct {
		file       string
		plugin     string
		source     string
		logPath    string
		lookback   time.Duration
		bufferSize int
		conditions int
		rules      int
		pcSource   string
		tsFormat   string
		skip       []string
	}{
		{file: "kernel-monitor.json", plugin: "kmsg", source: "kernel-monitor", logPath: "/dev/kmsg", lookback: 5 * time.Minute, bufferSize: 10, conditions: 3, rules: 14},
		{file: "kernel-monitor-filelog.json", plugin: "filelog", source: "kernel-monitor", logPath: "/var/log/kern.log", lookback: 5 * time.Minute, bufferSize: 10, conditions: 1, rules: 6, tsFormat: "Jan _2 15:04:05"},
		{file: "docker-monitor.json", plugin: "journald", source: "docker-monitor", logPath: "/var/log/journal", lookback: 5 * time.Minute, bufferSize: 10, conditions: 1, rules: 3, pcSource: "dockerd"},
		{file: "docker-monitor-filelog.json", plugin: "filelog", source: "docker-monitor", logPath: "/var/log/docker.log", lookback: 5 * time.Minute, bufferSize: 10, conditions: 0, rules: 1, tsFormat: "2006-01-02T15:04:05.999999999-07:00"},
		{file: "systemd-monitor.json", plugin: "journald", source: "systemd-monitor", logPath: "/var/log/journal", lookback: 5 * time.Minute, bufferSize: 10, conditions: 0, rules: 3, pcSource: "systemd"},
		{file: "readonly-monitor.json", plugin: "kmsg", source: "readonly-monitor", logPath: "/dev/kmsg", lookback: 5 * time.Minute, bufferSize: 10, conditions: 1, rules: 1},
		{file: "disk-log-message-filelog.json", plugin: "filelog", source: "disk-monitor", logPath: "/var/log/messages", lookback: 10 * time.Hour, bufferSize: 1, conditions: 1, rules: 1, tsFormat: "Jan _2 15:04:05", skip: []string{" audit:", " audit["}},
	}
	dir := compatDir(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Load(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Plugin != tt.plugin || m.Source != tt.source || m.LogPath != tt.logPath || m.Lookback != tt.lookback ||
				m.BufferSize != tt.bufferSize || len(m.Conditions) != tt.conditions || len(m.Rules) != tt.rules ||
				m.PluginConfig.Source != tt.pcSource || m.PluginConfig.TimestampFormat != tt.tsFormat ||
				strings.Join(m.SkipList, "|") != strings.Join(tt.skip, "|") {
				t.Fatalf("got %+v", m)
			}
			if !m.MetricsReporting {
				t.Error("metricsReporting should default to true, as in NPD")
			}
			if len(m.Unknown) != 0 {
				t.Errorf("unknown fields %v in an NPD file", m.Unknown)
			}
			for i, r := range m.Rules {
				if r.Regexp() == nil || r.Regexp().String() != r.Pattern {
					t.Errorf("rule %d: pattern not compiled as written", i)
				}
				if r.Reboot || r.Severity != "" {
					t.Errorf("rule %d: NPD file gained nodewarden fields %+v", i, r)
				}
			}
			if (m.Plugin == PluginFilelog) != (m.TimestampRegexp() != nil && m.MessageRegexp() != nil) {
				t.Errorf("filelog regexps: timestamp %v, message %v", m.TimestampRegexp(), m.MessageRegexp())
			}
		})
	}
}

// The other monitor kinds in NPD's config directory are not system-log-monitor files: each is
// refused with a reason saying so, as a configuration error.
func TestLoadOtherNPDMonitorKinds(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"custom-plugin-monitor.json", `plugin "custom": a custom-plugin-monitor file, whose scripts nodewarden does not run: the collector checks kubelet and runtime health itself and the detector's health rules (--health-rules)`},
		{"health-checker-containerd.json", `plugin "custom": a custom-plugin-monitor file, whose scripts nodewarden does not run`},
		{"health-checker-docker.json", `plugin "custom": a custom-plugin-monitor file, whose scripts nodewarden does not run`},
		{"health-checker-kubelet.json", `plugin "custom": a custom-plugin-monitor file, whose scripts nodewarden does not run`},
		{"kernel-monitor-counter.json", `plugin "custom": a custom-plugin-monitor file running NPD's log-counter: the detector reads it as counter rules`},
		{"system-stats-monitor.json", `plugin "": missing: not a system-log-monitor file but a system-stats-monitor file, which nodewarden does not run: the collector samples node and container stats itself, and the detector's threshold rules`},
	}
	dir := compatDir(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "load "+path+": ") {
				t.Fatalf("err = %v, want it to hold %q", err, tt.want)
			}
			if !config.IsConfigError(err) {
				t.Fatalf("%v is not a configuration error", err)
			}
		})
	}
}

func TestLoadBadFiles(t *testing.T) {
	tests := []struct {
		file string
		want string // the error after "load <path>: "
	}{
		{"bad-plugin.json", `plugin "foo": want kmsg, filelog or journald`},
		{"plugin-not-string.json", `plugin "7": want a string`},
		{"bad-lookback.json", `lookback "5 minutes": want a Go duration such as 5m or 10h`},
		{"negative-lookback.json", `lookback "-5m": want a Go duration`},
		{"bad-delay.json", `delay "soon": want a Go duration`},
		{"bad-pattern.json", `rules[1].pattern "task (unclosed": missing closing ): ` + "`task (unclosed`"},
		{"empty-pattern.json", `rules[0].pattern "": empty regular expression`},
		{"bad-timestamp-regexp.json", `pluginConfig.timestamp "^[.{15}": missing closing ]`},
		{"missing-message-regexp.json", `pluginConfig.message "": empty regular expression`},
		{"missing-timestamp-format.json", `pluginConfig.timestampFormat "": filelog needs a Go time layout`},
		{"filelog-no-logpath.json", `logPath "": filelog needs the file to follow`},
		{"pluginconfig-number.json", `pluginConfig.timestamp "15": want a string`},
		{"journald-no-source.json", `pluginConfig.source "": journald needs the syslog identifier`},
		{"bad-rule-type.json", `rules[0].type "sometimes": want temporary or permanent`},
		{"rule-no-reason.json", `rules[0].reason "": empty`},
		{"undeclared-condition.json", `rules[0].condition "KernelDedlock": a permanent rule needs one of the file's conditions`},
		{"duplicate-condition.json", `conditions[1].type "KernelDeadlock": declared twice`},
		{"reboot-temporary.json", `rules[0].reboot "true": only a permanent rule`},
		{"bad-severity.json", `rules[0].severity "fatal": want info, warning or critical`},
		{"bad-clear-after.json", `rules[0].clearAfter "soon": want a positive duration`},
		{"clear-after-temporary.json", `rules[0].clearAfter "10m": only a permanent rule`},
		{"missing-source.json", `source "": invalid name: empty`},
		{"bad-source.json", `source "kernel monitor": invalid name`},
		{"syntax-error.json", `invalid JSON at line 6, column 3: invalid character ']'`},
		{"wrong-type.json", `bufferSize: got a JSON string, want a whole number`},
		{"wrong-type-rule.json", `rules.reboot: got a JSON string, want true or false`},
		{"negative-buffer.json", `bufferSize "-1": want a positive number of lines`},
		{"empty-skip-entry.json", `skipList[1] "": empty; it would skip every line`},
		{"not-an-object.json", `want a JSON object, got a JSON array`},
		{"empty.json", `invalid JSON at line 1, column 1: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			m, err := Load(path)
			if err == nil {
				t.Fatalf("loaded %+v, want an error", m)
			}
			prefix := "load " + path + ": "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q\nwant %q", err, prefix+tt.want+"...")
			}
			var le *LoadError
			if !errors.As(err, &le) || le.Path != path {
				t.Fatalf("%v is not a *LoadError for %s", err, path)
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Flag != Flag || ce.Value != path || !strings.Contains(ce.Error(), tt.want) {
				t.Fatalf("as a config error: %v", ce)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.json")
	if !errors.Is(err, fs.ErrNotExist) || !config.IsConfigError(err) ||
		!strings.HasPrefix(err.Error(), "load testdata/no-such-file.json: read: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestNodewardenAdditions(t *testing.T) {
	m, err := Load("testdata/nodewarden-additions.json")
	if err != nil {
		t.Fatal(err)
	}
	if m.Lookback != 90*time.Second || m.Delay != 2*time.Minute || m.MetricsReporting || m.BufferSize != DefaultBufferSize {
		t.Fatalf("watcher half: %+v", m)
	}
	if r := m.Rules[0]; !r.Reboot || r.Severity != SeverityCritical || r.Type != Permanent || r.Condition != "KernelDeadlock" {
		t.Fatalf("rule 0: %+v", r)
	}
	if r := m.Rules[1]; r.Reboot || r.Severity != SeverityWarning {
		t.Fatalf("rule 1: %+v", r)
	}
	if !m.Rules[1].Regexp().MatchString("Killed process 42 (stress)") {
		t.Fatal("compiled rule does not match")
	}
	if strings.Join(m.Unknown, ",") != "taintEnabled" {
		t.Fatalf("unknown = %v", m.Unknown)
	}
}

func TestLoadAll(t *testing.T) {
	dir := compatDir(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name    string
		paths   []string
		sources []string
		want    string
	}{
		{name: "distinct sources", paths: []string{p("kernel-monitor.json"), p("docker-monitor.json"), p("systemd-monitor.json"), p("readonly-monitor.json"), p("disk-log-message-filelog.json")},
			sources: []string{"kernel-monitor", "docker-monitor", "systemd-monitor", "readonly-monitor", "disk-monitor"}},
		{name: "none", paths: nil},
		// NPD ships the kmsg and filelog flavours of one monitor under one source: loading both is
		// the mistake an operator makes.
		{name: "kernel twice", paths: []string{p("kernel-monitor.json"), p("kernel-monitor-filelog.json")},
			want: `invalid value "` + p("kernel-monitor-filelog.json") + `" for flag --log-monitor: source "kernel-monitor" is also the source of ` + p("kernel-monitor.json")},
		{name: "docker twice", paths: []string{p("docker-monitor-filelog.json"), p("readonly-monitor.json"), p("docker-monitor.json")},
			want: `source "docker-monitor" is also the source of ` + p("docker-monitor-filelog.json")},
		{name: "a bad file", paths: []string{p("kernel-monitor.json"), "testdata/bad-plugin.json"},
			want: `invalid value "testdata/bad-plugin.json" for flag --log-monitor: plugin "foo": want kmsg, filelog or journald`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mons, err := LoadAll(tt.paths)
			if tt.want != "" {
				var ce *config.Error
				if !errors.As(err, &ce) || !strings.Contains(ce.Error(), tt.want) {
					t.Fatalf("err = %v\nwant a config error holding %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(mons) != len(tt.sources) {
				t.Fatalf("%d monitors, want %d", len(mons), len(tt.sources))
			}
			for i, m := range mons {
				if m.Source != tt.sources[i] || m.Path != tt.paths[i] {
					t.Errorf("monitor %d: %s from %s", i, m.Source, m.Path)
				}
			}
		})
	}
}

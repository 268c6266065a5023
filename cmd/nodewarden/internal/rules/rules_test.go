package rules

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/detector/healthrules"
)

// compatDir is ../shared/compat/npd beside the workspace (the directory holding go.work):
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

func runMain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheck(t *testing.T) {
	npd := func(name string) string { return filepath.Join(compatDir(t), name) }
	td := func(name string) string { return filepath.Join("testdata", name) }
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"NPD's system-log-monitor files", []string{npd("kernel-monitor.json"), npd("docker-monitor.json"), npd("disk-log-message-filelog.json")}, 0,
			[]string{"ok " + npd("kernel-monitor.json") + " (system-log-monitor, 14 rules, source kernel-monitor)",
				"ok " + npd("docker-monitor.json") + " (system-log-monitor, 3 rules, source docker-monitor)",
				"ok " + npd("disk-log-message-filelog.json") + " (system-log-monitor, 1 rule, source disk-monitor)"}, nil},
		{"NPD's log-counter file", []string{npd("kernel-monitor-counter.json")}, 0,
			[]string{"ok " + npd("kernel-monitor-counter.json") + " (log-counter, 1 rule, reads kernel-monitor)"}, nil},
		{"health rules", []string{td("health.yaml")}, 0, []string{"(health rules, 1 rule: 1 health, 0 threshold)"}, nil},
		{"bad JSON", []string{td("bad-json.json")}, 2, nil,
			[]string{"load testdata/bad-json.json: invalid JSON at line 6, column 5", "1 of 1 rule files did not load"}},
		{"unknown rule type", []string{td("unknown-type.json")}, 2, nil,
			[]string{`load testdata/unknown-type.json: rules[2].type "permanant": want temporary or permanent`}},
		{"pattern that does not compile", []string{td("bad-pattern.json")}, 2, nil,
			[]string{`load testdata/bad-pattern.json: rules[1].pattern "task (\\S+ blocked": missing closing )`}},
		{"bad health rule", []string{td("bad-health.yaml")}, 2, nil, []string{`thresholdRules[0].op "=>"`}},
		{"custom plugin scripts", []string{npd("custom-plugin-monitor.json")}, 2, nil,
			[]string{"check_ntp.sh", "which nodewarden does not run", "health rules", "threshold rules"}},
		{"health-checker", []string{npd("health-checker-kubelet.json")}, 2, nil,
			[]string{"NPD's health-checker (--component=kubelet)", "health rules", "the shipped defaults already set KubeletUnhealthy"}},
		{"system-stats", []string{npd("system-stats-monitor.json")}, 2, nil,
			[]string{"a system-stats-monitor file, which nodewarden does not run", "threshold rules"}},
		{"all checked, good and bad", []string{td("bad-json.json"), npd("readonly-monitor.json"), td("bad-pattern.json")}, 2,
			[]string{"ok " + npd("readonly-monitor.json")}, []string{"bad-json.json", "bad-pattern.json", "2 of 3 rule files did not load"}},
		{"missing file", []string{td("nope.json")}, 2, nil, []string{"nope.json", "no such file"}},
		{"no file", nil, 2, nil, []string{"name at least one rule file"}},
		{"help", []string{"--help"}, 0, []string{"Usage: nodewarden rules check", "FILE..."}, nil},
		{"files after --", []string{"--", td("health.yaml")}, 0, []string{"ok testdata/health.yaml"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, "", append([]string{"check"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout %s\nstderr %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tt.code != 0 && len(tt.args) > 0 && strings.Contains(stdout, "ok "+tt.args[0]) {
				t.Errorf("a bad file is ok: %s", stdout)
			}
		})
	}
}

// row is one problem line of `rules test`.
type row struct{ line, time, kind, cond, status, reason, msg string }

var rowRe = regexp.MustCompile(`^(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(.*)$`)

func rows(t *testing.T, stdout string) []row {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "LINE") {
		t.Fatalf("no header: %q", lines[0])
	}
	var out []row
	for _, l := range lines[1:] {
		m := rowRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unparsable row %q", l)
		}
		out = append(out, row{m[1], m[2], m[3], m[4], m[5], m[6], m[7]})
	}
	return out
}

func kmsgLines(start int, msgs ...string) string {
	var b strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&b, "3,%d,%d,-;%s\n", 9000+i, (start+i)*1000000, m)
	}
	return b.String()
}

func TestTest(t *testing.T) {
	npd := func(name string) string { return filepath.Join(compatDir(t), name) }
	real, err := os.ReadFile(filepath.Join("testdata", "real.kmsg"))
	if err != nil {
		t.Fatal(err)
	}
	realLines := strings.Count(string(real), "\n")
	at := func(i int) string { return fmt.Sprint(realLines + i) } // the i-th injected line (1-based)
	const (
		oom    = "Out of memory: Killed process 4242 (stress) total-vm:1048576kB, anon-rss:524288kB, file-rss:0kB, shmem-rss:0kB, UID:0"
		hung   = "INFO: task docker:1234 blocked for more than 120 seconds."
		netdev = "unregister_netdevice: waiting for eth0 to become free. Usage count = 1"
		xfs    = "XFS (sda1): Shutting down filesystem"
	)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  []row
	}{
		{"NPD's kernel monitor and counter on real kernel lines",
			[]string{"--rules", npd("kernel-monitor.json"), "--rules", npd("kernel-monitor-counter.json")},
			string(real) + kmsgLines(100, oom, hung, netdev, netdev, netdev, xfs, hung),
			[]row{
				{at(1), "100.000000", "event", "-", "-", "OOMKilling", oom},
				{at(2), "101.000000", "event", "-", "-", "TaskHung", hung},
				{at(2), "101.000000", "condition", "KernelDeadlock", "True", "DockerHung", hung},
				{at(3), "102.000000", "event", "-", "-", "UnregisterNetDevice", netdev},
				{at(4), "103.000000", "event", "-", "-", "UnregisterNetDevice", netdev},
				{at(5), "104.000000", "event", "-", "-", "UnregisterNetDevice", netdev},
				{at(5), "104.000000", "condition", "FrequentUnregisterNetDevice", "True", "UnregisterNetDevice", "Found 3 matching logs, which meets the threshold of 3"},
				{at(6), "105.000000", "condition", "XfsShutdown", "True", "XfsHasShutdown", xfs},
				{at(7), "106.000000", "event", "-", "-", "TaskHung", hung}, // KernelDeadlock is True already
			}},
		{"a pattern spanning lines, dated by its first line",
			[]string{"--rules", filepath.Join("testdata", "multiline-monitor.json")},
			"[ 10.000000] " + hung + "\n[ 10.000100] Tainted: G\n[ 10.000200] Call Trace:\n[ 11.0] Call Trace:\n",
			[]row{{"3", "10.000000", "event", "-", "-", "HungTaskTrace", hung + `\nTainted: G\nCall Trace:`}}},
		{"a rule asking for a reboot, once",
			[]string{"--rules", filepath.Join("testdata", "reboot-monitor.json")},
			"Jan  2 15:04:05 n1 kernel: [ 1.0] " + hung + "\nJan  2 15:04:09 n1 kernel: [ 5.0] " + hung + "\n",
			[]row{
				{"1", "01-02T15:04:05", "condition", "KernelDeadlock", "True", "DockerHung", hung},
				{"1", "01-02T15:04:05", "reboot", "KernelDeadlock", "True", "DockerHung", "RebootRequired"},
			}},
		{"a counter falls when its window slides, noticed by a later line",
			[]string{"--rules", filepath.Join("testdata", "ext4-counter.json")},
			"[1.0] EXT4-fs error (device sda1): a\n[5.0] EXT4-fs error (device sda1): b\n[30.0] EXT4-fs error (device sda1): c\n",
			[]row{ // in time order: the fall, found at line 3, before line 3's own problems
				{"2", "5.000000", "condition", "FrequentExt4Errors", "True", "Ext4ErrorsOften", "Found 2 matching logs, which meets the threshold of 2"},
				{"3", "11.000000", "condition", "FrequentExt4Errors", "False", "NoFrequentExt4Errors", "no frequent ext4 errors"},
			}},
		{"plain lines have no time: a counter sees them at once",
			[]string{"--rules", npd("kernel-monitor-counter.json")},
			netdev + "\n" + netdev + "\n\n" + netdev + "\n",
			[]row{{"4", "-", "condition", "FrequentUnregisterNetDevice", "True", "UnregisterNetDevice", "Found 3 matching logs, which meets the threshold of 3"}}},
		{"a counter's fall comes before the line's own problems",
			[]string{"--rules", npd("kernel-monitor.json"), "--rules", filepath.Join("testdata", "ext4-counter.json")},
			"[1.0] EXT4-fs error x\n[2.0] EXT4-fs error y\n[30.0] EXT4-fs error z\n",
			[]row{
				{"1", "1.000000", "event", "-", "-", "Ext4Error", "EXT4-fs error x"},
				{"2", "2.000000", "event", "-", "-", "Ext4Error", "EXT4-fs error y"},
				{"2", "2.000000", "condition", "FrequentExt4Errors", "True", "Ext4ErrorsOften", "Found 2 matching logs, which meets the threshold of 2"},
				{"3", "11.000000", "condition", "FrequentExt4Errors", "False", "NoFrequentExt4Errors", "no frequent ext4 errors"},
				{"3", "30.000000", "event", "-", "-", "Ext4Error", "EXT4-fs error z"},
			}},
		{"a forced format skips other lines",
			[]string{"--rules", npd("kernel-monitor.json"), "--format", "kmsg"},
			oom + "\n" + kmsgLines(1, oom),
			[]row{{"2", "1.000000", "event", "-", "-", "OOMKilling", oom}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tt.stdin, append([]string{"test"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := rows(t, stdout)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems\n got %v\nwant %v\nstderr %s", got, tt.want, stderr)
			}
			if !strings.Contains(stderr, fmt.Sprintf("%d problems", len(tt.want))) {
				t.Errorf("summary: %s", stderr)
			}
		})
	}
}

func TestTestSummaryAndErrors(t *testing.T) {
	code, _, stderr := runMain(t, "not kmsg\n"+kmsgLines(1, "hello"), "test", "--rules", filepath.Join(compatDir(t), "kernel-monitor.json"), "--format=kmsg", "--node", "ip-10-0-0-1.ec2.internal")
	if code != 0 || !strings.Contains(stderr, "line 1 skipped: not a kmsg line") ||
		!strings.Contains(stderr, "node ip-10-0-0-1.ec2.internal: 2 lines read, 1 evaluated, 1 skipped (not kmsg), 0 problems") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no rules", nil, "--rules"},
		{"health rules", []string{"--rules", filepath.Join("testdata", "health.yaml")}, "health and threshold rules read health reports and node samples, not log lines"},
		{"bad rule file", []string{"--rules", filepath.Join("testdata", "bad-pattern.json")}, `rules[1].pattern "task (\\S+ blocked"`},
		{"refused kind", []string{"--rules", filepath.Join(compatDir(t), "system-stats-monitor.json")}, "threshold rules"},
		{"bad format", []string{"--rules", filepath.Join("testdata", "reboot-monitor.json"), "--format", "json"}, "--format"},
		{"bad node", []string{"--rules", filepath.Join("testdata", "reboot-monitor.json"), "--node", "a b"}, "--node"},
		{"positional", []string{"kern.log"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, "", append([]string{"test"}, tt.args...)...)
			if code != daemon.ExitConfig || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want 2 with %q: %s", code, tt.want, stderr)
			}
		})
	}
}

// An interrupt ends a test whose input has not: the summary says so.
func TestTestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"test", "--rules", filepath.Join("testdata", "reboot-monitor.json")}, r, &out, &errOut)
	if code != 0 || !strings.Contains(errOut.String(), "(interrupted)") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}

func TestDefaultsAndUsage(t *testing.T) {
	code, stdout, _ := runMain(t, "", "defaults")
	if code != 0 || stdout != string(healthrules.DefaultYAML()) {
		t.Errorf("defaults: exit %d, %d bytes", code, len(stdout))
	}
	// What it prints checks as health rules.
	path := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(path, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runMain(t, "", "check", path); code != 0 || !strings.Contains(out, "(health rules, 6 rules: 2 health, 4 threshold)") {
		t.Errorf("check defaults: exit %d %s %s", code, out, stderr)
	}
	for _, args := range [][]string{nil, {"frobnicate"}} {
		if code, _, stderr := runMain(t, "", args...); code != daemon.ExitConfig || !strings.Contains(stderr, "Usage: nodewarden rules") {
			t.Errorf("%v: exit %d %s", args, code, stderr)
		}
	}
	if code, stdout, _ := runMain(t, "", "--help"); code != 0 || !strings.Contains(stdout, "check") || !strings.Contains(stdout, "test") {
		t.Errorf("--help: exit %d %s", code, stdout)
	}
}

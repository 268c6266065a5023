package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// npdDir holds NPD's own configuration files, unchanged (../shared/compat/npd beside the
// workspace).
const npdDir = "../../shared/compat/npd"

// runRules runs `nodewarden rules args...` with stdin.
func runRules(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin(t, "nodewarden"), append([]string{"rules"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	t.Fatalf("run nodewarden rules: %v", err)
	return
}

// Every file of NPD's config directory is either loaded (system-log-monitor and log-counter
// files) or refused naming what replaces it in nodewarden, with exit status 2.
func TestRulesCheckNPDFiles(t *testing.T) {
	want := map[string]struct {
		code int
		say  []string
	}{
		"kernel-monitor.json":            {0, []string{"(system-log-monitor, 14 rules, source kernel-monitor)"}},
		"kernel-monitor-filelog.json":    {0, []string{"(system-log-monitor, 6 rules, source kernel-monitor)"}},
		"docker-monitor.json":            {0, []string{"(system-log-monitor, 3 rules, source docker-monitor)"}},
		"docker-monitor-filelog.json":    {0, []string{"(system-log-monitor, 1 rule, source docker-monitor)"}},
		"systemd-monitor.json":           {0, []string{"(system-log-monitor, 3 rules, source systemd-monitor)"}},
		"readonly-monitor.json":          {0, []string{"(system-log-monitor, 1 rule, source readonly-monitor)"}},
		"disk-log-message-filelog.json":  {0, []string{"(system-log-monitor, 1 rule, source disk-monitor)"}},
		"kernel-monitor-counter.json":    {0, []string{"(log-counter, 1 rule, reads kernel-monitor)"}},
		"custom-plugin-monitor.json":     {2, []string{`rules[0].path "./config/plugin/check_ntp.sh"`, "which nodewarden does not run", "health rules", "threshold rules"}},
		"health-checker-kubelet.json":    {2, []string{"NPD's health-checker (--component=kubelet)", "health rules", "KubeletUnhealthy"}},
		"health-checker-docker.json":     {2, []string{"NPD's health-checker (--component=docker)", "health rules", "ContainerRuntimeUnhealthy"}},
		"health-checker-containerd.json": {2, []string{"NPD's health-checker (--component=cri)", "health rules", "ContainerRuntimeUnhealthy"}},
		"system-stats-monitor.json":      {2, []string{"system-stats-monitor file, which nodewarden does not run", "threshold rules"}},
	}
	files, err := filepath.Glob(filepath.Join(npdDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no NPD files in %s: %v", npdDir, err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("a new NPD file: say what rules check should make of it")
			}
			code, stdout, stderr := runRules(t, "", "check", path)
			if code != w.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, w.code, stdout, stderr)
			}
			out := stdout
			if w.code == 0 {
				if !strings.HasPrefix(stdout, "ok "+path+" (") {
					t.Errorf("stdout %q", stdout)
				}
			} else {
				out = stderr
				if !strings.HasPrefix(stderr, "load "+path+": ") || stdout != "" {
					t.Errorf("stdout %q, stderr %q: want the error naming the file", stdout, stderr)
				}
			}
			for _, s := range w.say {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

// The detector's shipped rules check: its built-in kernel monitor, the health rules' defaults
// file, and what `rules defaults` prints.
func TestRulesCheckShipped(t *testing.T) {
	code, defaults, stderr := runRules(t, "", "defaults")
	if code != 0 || !strings.Contains(defaults, "KubeletUnhealthy") {
		t.Fatalf("rules defaults: exit %d %s", code, stderr)
	}
	printed := filepath.Join(t.TempDir(), "health-rules.yaml")
	if err := os.WriteFile(printed, []byte(defaults), 0o600); err != nil {
		t.Fatal(err)
	}
	kernel := "../services/detector/rules/kernel-monitor.json"
	shipped := "../services/detector/healthrules/defaults.yaml"
	code, stdout, stderr := runRules(t, "", "check", kernel, shipped, printed)
	want := "ok " + kernel + " (system-log-monitor, 14 rules, source kernel-monitor)\n" +
		"ok " + shipped + " (health rules, 6 rules: 2 health, 4 threshold)\n" +
		"ok " + printed + " (health rules, 6 rules: 2 health, 4 threshold)\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("exit %d\nstdout %s\nwant   %s\nstderr %s", code, stdout, want, stderr)
	}
}

// A bad file names the file, the rule's index and the reason, with exit status 2; the good
// files beside it are still checked.
func TestRulesCheckBadFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"syntax.json":  `{"plugin": "kmsg", "source": "s", "rules": [{"type": "temporary", "reason": "A", "pattern": "a"},]}`,
		"type.json":    `{"plugin": "kmsg", "source": "s", "rules": [{"type": "temporary", "reason": "A", "pattern": "a"}, {"type": "sometimes", "reason": "B", "pattern": "b"}]}`,
		"pattern.json": `{"plugin": "kmsg", "source": "s", "rules": [{"type": "temporary", "reason": "A", "pattern": "a"}, {"type": "temporary", "reason": "B", "pattern": "b"}, {"type": "temporary", "reason": "C", "pattern": "c[z-a]"}]}`,
		"counter.json": `{"plugin": "custom", "source": "s", "conditions": [{"type": "C", "reason": "R"}], "rules": [{"type": "permanent", "condition": "C", "reason": "X", "path": "/bin/log-counter", "args": ["--journald-source=kernel", "--lookback=1m", "--count=3", "--pattern=x("]}]}`,
		"good.json":    `{"plugin": "kmsg", "source": "s", "rules": [{"type": "temporary", "reason": "A", "pattern": "a"}]}`,
		"health.yaml":  "healthRules:\n  - condition: KubeletUnhealthy\n    component: kubelet\n    failures: three\n",
	}
	var args []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	code, stdout, stderr := runRules(t, "", append([]string{"check"}, args...)...)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, stderr)
	}
	if stdout != "ok "+filepath.Join(dir, "good.json")+" (system-log-monitor, 1 rule, source s)\n" {
		t.Errorf("stdout %q", stdout)
	}
	for _, w := range []string{
		"load " + filepath.Join(dir, "syntax.json") + ": invalid JSON at line 1, column 98",
		"load " + filepath.Join(dir, "type.json") + `: rules[1].type "sometimes": want temporary or permanent`,
		"load " + filepath.Join(dir, "pattern.json") + `: rules[2].pattern "c[z-a]": invalid character class range`,
		"load " + filepath.Join(dir, "counter.json") + `: rules[0].args --pattern "x(": missing closing )`,
		"load " + filepath.Join(dir, "health.yaml") + `: healthRules[0].failures`,
		"5 of 6 rule files did not load",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

// Real kernel lines (this machine's /dev/kmsg) with a few problems among them: `rules test`
// with NPD's kernel monitor and log-counter files finds exactly those problems.
func TestRulesTestKernelLines(t *testing.T) {
	real, maxUsec := readKmsg(t)
	// Drop real lines that any kernel-monitor rule matches (anyone may have written one into
	// /dev/kmsg), so the expected output does not depend on this machine's history.
	mon, err := npdconfig.Load(filepath.Join(npdDir, "kernel-monitor.json"))
	if err != nil {
		t.Fatal(err)
	}
	matchesARule := func(l string) bool {
		for i := range mon.Rules {
			if mon.Rules[i].Regexp().MatchString(l) {
				return true
			}
		}
		return false
	}
	var input strings.Builder
	n := 0
	for _, l := range real {
		if !matchesARule(l) {
			input.WriteString(l + "\n")
			n++
		}
	}
	t.Logf("%d real kernel lines from /dev/kmsg", n)
	base := maxUsec/1_000_000 + 10
	msgs := []string{
		"Out of memory: Killed process 4242 (stress) total-vm:1048576kB, anon-rss:524288kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1100kB oom_score_adj:0",
		"INFO: task docker:1234 blocked for more than 120 seconds.",
		"unregister_netdevice: waiting for eth0 to become free. Usage count = 1",
		"unregister_netdevice: waiting for eth0 to become free. Usage count = 1",
		"unregister_netdevice: waiting for eth0 to become free. Usage count = 1",
		"XFS (dm-3): Shutting down filesystem",
	}
	for i, m := range msgs {
		fmt.Fprintf(&input, "3,%d,%d,-;%s\n", 1_000_000+i, (base+uint64(i))*1_000_000, m)
	}
	line := func(i int) string { return strconv.Itoa(n + i + 1) }
	at := func(i int) string { return fmt.Sprintf("%d.000000", base+uint64(i)) }
	want := []string{
		strings.Join([]string{line(0), at(0), "event", "-", "-", "OOMKilling", msgs[0]}, " "),
		strings.Join([]string{line(1), at(1), "event", "-", "-", "TaskHung", msgs[1]}, " "),
		strings.Join([]string{line(1), at(1), "condition", "KernelDeadlock", "True", "DockerHung", msgs[1]}, " "),
		strings.Join([]string{line(2), at(2), "event", "-", "-", "UnregisterNetDevice", msgs[2]}, " "),
		strings.Join([]string{line(3), at(3), "event", "-", "-", "UnregisterNetDevice", msgs[3]}, " "),
		strings.Join([]string{line(4), at(4), "event", "-", "-", "UnregisterNetDevice", msgs[4]}, " "),
		strings.Join([]string{line(4), at(4), "condition", "FrequentUnregisterNetDevice", "True", "UnregisterNetDevice", "Found 3 matching logs, which meets the threshold of 3"}, " "),
		strings.Join([]string{line(5), at(5), "condition", "XfsShutdown", "True", "XfsHasShutdown", msgs[5]}, " "),
	}
	code, stdout, stderr := runRules(t, input.String(), "test",
		"--rules", filepath.Join(npdDir, "kernel-monitor.json"), "--rules", filepath.Join(npdDir, "kernel-monitor-counter.json"),
		"--node", "ip-10-0-0-1.ec2.internal")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if !strings.HasPrefix(rows[0], "LINE ") {
		t.Fatalf("no header: %q", rows[0])
	}
	// The first six columns hold no spaces; the message is the rest of the row.
	rowRe := regexp.MustCompile(`^(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(.*)$`)
	var got []string
	for _, r := range rows[1:] {
		m := rowRe.FindStringSubmatch(r)
		if m == nil {
			t.Fatalf("unparsable row %q", r)
		}
		got = append(got, strings.Join(m[1:], " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	summary := fmt.Sprintf("node ip-10-0-0-1.ec2.internal: %d lines read", strings.Count(input.String(), "\n"))
	if !strings.Contains(stderr, summary) || !strings.Contains(stderr, "8 problems; True at the end: FrequentUnregisterNetDevice, KernelDeadlock, XfsShutdown") {
		t.Errorf("summary %q, want it to hold %q", stderr, summary)
	}
}

// readKmsg reads the records /dev/kmsg holds now (without waiting for more) and returns them
// as lines, dictionary lines included, with the largest timestamp. It skips the test when the
// device cannot be read.
func readKmsg(t *testing.T) (lines []string, maxUsec uint64) {
	t.Helper()
	// Raw syscalls: with O_NONBLOCK the end of the buffer is EAGAIN, which os.File's poller
	// would wait through instead.
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("/dev/kmsg is not readable here (%v): the test needs real kernel lines", err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, 16<<10)
	for len(lines) < 5000 {
		n, err := syscall.Read(fd, buf)
		if errors.Is(err, syscall.EPIPE) {
			continue // records overwritten while reading: go on with the next
		}
		if err != nil || n <= 0 {
			break // EAGAIN: nothing more now
		}
		rec := strings.TrimSuffix(string(buf[:n]), "\n")
		if prefix, _, ok := strings.Cut(rec, ";"); ok {
			if f := strings.Split(prefix, ","); len(f) >= 3 {
				if u, err := strconv.ParseUint(f[2], 10, 64); err == nil {
					maxUsec = max(maxUsec, u)
				}
			}
		}
		lines = append(lines, strings.Split(rec, "\n")...)
	}
	if len(lines) == 0 {
		t.Skip("/dev/kmsg holds no records")
	}
	return lines, maxUsec
}

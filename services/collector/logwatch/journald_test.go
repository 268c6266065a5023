package logwatch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// There is no journald on this machine, so these tests put a fake journalctl on PATH: it
// records its arguments, prints the entries of a file (those after --after-cursor, if given)
// and then waits as journalctl --follow does. The journald package's own test reads a real
// journal file with the real journalctl.
func fakeJournalctl(t *testing.T) (entries, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	entries = filepath.Join(dir, "entries.json")
	argsFile = filepath.Join(dir, "args")
	if err := os.WriteFile(entries, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
echo "$@" >> %[1]s
after=""
for a in "$@"; do case "$a" in --after-cursor=*) after="${a#--after-cursor=}";; esac; done
if [ -z "$after" ]; then cat %[2]s; else awk -v c="\"__CURSOR\":\"$after\"" 'found { print } index($0, c) { found = 1 }' %[2]s; fi
exec sleep 3600
`, argsFile, entries)
	if err := os.WriteFile(filepath.Join(dir, "journalctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return entries, argsFile
}

func journalEntry(cursor string, at time.Time, msg string) string {
	return fmt.Sprintf(`{"__REALTIME_TIMESTAMP":"%d","__CURSOR":"%s","PRIORITY":"3","SYSLOG_IDENTIFIER":"dockerd","MESSAGE":%q}`+"\n",
		at.UnixMicro(), cursor, msg)
}

// TestJournaldRestartResume runs NPD's docker-monitor.json: the lookback on a fresh start,
// then --after-cursor from the state file after a restart.
func TestJournaldRestartResume(t *testing.T) {
	entries, argsFile := fakeJournalctl(t)
	root := newHost(t)
	stateDir := t.TempDir()
	now := testBoot.Add(time.Hour)
	appendFile(t, filepath.Dir(entries), filepath.Base(entries),
		journalEntry("c1", now.Add(-10*time.Minute), "older than the lookback")+
			journalEntry("c2", now.Add(-time.Minute), "OCI runtime start failed: container process is already dead: unknown")+
			`{"MESSAGE":"no timestamp"}`+"\n"+
			journalEntry("c3", now.Add(-30*time.Second), "  second  "))
	mon := compatMonitor(t, "docker-monitor.json")
	opts := Options{HostRoot: root, StateDir: stateDir, Now: func() time.Time { return now }}
	s := &sink{}
	r := start(t, mon, opts, s)
	waitFor(t, 10*time.Second, "2 entries", func() bool { return len(s.lines()) == 2 })
	r.stop()
	if c := r.w.Counts(); c.LinesSkipped != 1 || c.ParseErrors != 1 {
		t.Errorf("counts %+v", c)
	}

	appendFile(t, filepath.Dir(entries), filepath.Base(entries), journalEntry("c4", now.Add(time.Second), "third"))
	r = start(t, mon, opts, s)
	waitFor(t, 10*time.Second, "3 entries", func() bool { return len(s.lines()) >= 3 })
	r.stop()

	if got := s.messages(); got != "OCI runtime start failed: container process is already dead: unknown|second|third" {
		t.Fatalf("got %s", got)
	}
	for i, l := range s.lines() {
		if l.Seq != uint64(i+1) || l.Priority != 3 {
			t.Errorf("line %d: %v", i, l)
		}
	}
	checkBatches(t, s.snapshot(), "ip-10-0-0-1.ec2.internal", "docker-monitor")
	args, _ := os.ReadFile(argsFile)
	runs := strings.Split(strings.TrimSpace(string(args)), "\n")
	// docker-monitor.json's logPath is the default journal: read under the host root.
	want0 := fmt.Sprintf("--identifier=dockerd --root=%s --since=@%d", root, now.Add(-5*time.Minute).Unix())
	if len(runs) != 2 || !strings.HasSuffix(runs[0], want0) || !strings.HasSuffix(runs[1], "--root="+root+" --after-cursor=c3") {
		t.Fatalf("journalctl runs:\n%s\nwant the first ending %q", args, want0)
	}
}

func TestJournaldMissingJournalctl(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := &sink{}
	r := start(t, compatMonitor(t, "systemd-monitor.json"), Options{HostRoot: newHost(t)}, s)
	waitFor(t, 10*time.Second, "a status", func() bool { return r.w.Status() != nil })
	if err := r.w.Status(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "journalctl not found") {
		t.Fatalf("status %v", err)
	}
}

func TestJournaldFailingJournalctl(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'Failed to open /host/var/log/journal: No such file or directory' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "journalctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	r := start(t, compatMonitor(t, "systemd-monitor.json"), Options{HostRoot: newHost(t), Journalctl: filepath.Join(dir, "journalctl")}, s)
	waitFor(t, 10*time.Second, "a status", func() bool { return r.w.Status() != nil })
	if err := r.w.Status(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "exit status 1: Failed to open") {
		t.Fatalf("status %v", err)
	}
}

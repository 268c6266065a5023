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

// fileNow is the clock of the filelog tests.
var fileNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// TestFilelogNPDFiles runs NPD's three filelog monitors, unchanged, over log lines in their
// formats: lookback, skipList, the timestamp layouts and the message expressions.
func TestFilelogNPDFiles(t *testing.T) {
	tests := []struct {
		file    string
		log     []string
		want    []string    // published messages
		times   []time.Time // and their times
		skipped uint64
		errors  uint64
	}{
		{file: "kernel-monitor-filelog.json", log: []string{
			"Mar 10 11:50:00 node-1 kernel: [ 1.000000] older than the 5m lookback",
			"Mar 10 11:56:00 node-1 kernel: [ 2.000000] Out of memory: Killed process 42 (stress) total-vm:1kB, anon-rss:1kB, file-rss:0kB",
			"Mar 10 11:56:01 node-1 systemd[1]: Started foo.service.",
			"Mar 10 11:57:00 node-1 kernel: [ 3.000000] EXT4-fs error (device sda1): bad block",
		}, want: []string{
			"Out of memory: Killed process 42 (stress) total-vm:1kB, anon-rss:1kB, file-rss:0kB",
			"EXT4-fs error (device sda1): bad block",
		}, times: []time.Time{
			time.Date(2026, 3, 10, 11, 56, 0, 0, time.UTC), time.Date(2026, 3, 10, 11, 57, 0, 0, time.UTC),
		}, skipped: 1, errors: 1},
		{file: "docker-monitor-filelog.json", log: []string{
			`time="2026-03-10T11:50:00.000000000Z" level=info msg="too old"`,
			`time="2026-03-10T12:58:00.123456789+01:00" level=error msg="Error trying v2 registry: failed to register layer: rename /var/lib/docker/image/a /var/lib/docker/image/b: directory not empty"`,
			`time="2026-03-10T11:59:00Z" level=info msg="Loading containers: done."`,
			`not a docker line`,
		}, want: []string{
			"Error trying v2 registry: failed to register layer: rename /var/lib/docker/image/a /var/lib/docker/image/b: directory not empty",
			"Loading containers: done.",
		}, times: []time.Time{
			time.Date(2026, 3, 10, 11, 58, 0, 123456789, time.UTC), time.Date(2026, 3, 10, 11, 59, 0, 0, time.UTC),
		}, skipped: 1, errors: 1},
		{file: "disk-log-message-filelog.json", log: []string{
			"Mar 10 01:00:00 node-1 smartd[812]: Device: /dev/sda, 200 Currently unreadable (pending) sectors",
			"Mar 10 03:00:00 node-1 smartd[812]: Device: /dev/sda, 128 Currently unreadable (pending) sectors",
			"Mar 10 03:00:01 node-1 kernel: audit: type=1400 Currently unreadable sectors in an audit record",
			"Mar 10 03:00:02 node-1 audit[77]: Offline uncorrectable sectors mentioned by audit",
			"Mar 10 03:00:03 node-1 smartd[812]: Device: /dev/sdb, 9 Offline uncorrectable sectors",
			"Mar 10 03:00:04 node-1 smartd[812]: Device: /dev/sdb, SMART Usage Attribute changed",
		}, want: []string{"Currently unreadable (pending) sectors", "Offline uncorrectable sectors"},
			times: []time.Time{time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 3, 0, 3, 0, time.UTC)},
			// 01:00 is older than the 10h lookback; two lines hold a skipList entry.
			skipped: 3, errors: 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			mon := compatMonitor(t, tt.file)
			root := newHost(t)
			appendFile(t, root, mon.LogPath, strings.Join(tt.log, "\n")+"\n")
			s := &sink{}
			r := start(t, mon, Options{HostRoot: root, Now: func() time.Time { return fileNow }}, s)
			waitFor(t, 10*time.Second, "every line read", func() bool { return r.w.Counts().LinesRead == uint64(len(tt.log)) })
			waitFor(t, 10*time.Second, "the lines published", func() bool { return len(s.lines()) == len(tt.want) })
			r.stop()
			for i, l := range s.lines() {
				if l.Message != tt.want[i] || !l.Time.AsTime().Equal(tt.times[i]) || l.Priority != -1 || l.Seq != uint64(i+1) {
					t.Errorf("line %d: %v, want %q at %v", i, l, tt.want[i], tt.times[i])
				}
			}
			checkBatches(t, s.snapshot(), "ip-10-0-0-1.ec2.internal", mon.Source)
			if c := r.w.Counts(); c.LinesSkipped != tt.skipped || c.ParseErrors != tt.errors {
				t.Errorf("counts %+v, want %d skipped, %d parse errors", c, tt.skipped, tt.errors)
			}
		})
	}
}

// rfcMonitor reads "<RFC 3339 time> <message>" lines from /var/log/app.log.
const rfcMonitor = `{"plugin":"filelog","logPath":"/var/log/app.log","lookback":"1h","source":"app",
	"pluginConfig":{"timestamp":"^(\\S+) ","message":"^\\S+ (.*)","timestampFormat":"2006-01-02T15:04:05Z07:00"}}`

func appLines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%s line-%02d\n", fileNow.Add(-time.Minute).Format(time.RFC3339), i)
	}
	return b.String()
}

func TestFilelogRotationAndTruncation(t *testing.T) {
	root := newHost(t)
	path := filepath.Join(root, "var/log/app.log")
	appendFile(t, root, "var/log/app.log", appLines(1, 3))
	s := &sink{}
	r := start(t, monitor(t, rfcMonitor), Options{HostRoot: root, Now: func() time.Time { return fileNow }}, s)
	waitFor(t, 10*time.Second, "3 lines", func() bool { return len(s.lines()) == 3 })

	// logrotate's create mode: rename, a late write into the renamed file, a new file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, root, "var/log/app.log.1", appLines(4, 4))
	appendFile(t, root, "var/log/app.log", appLines(5, 6))
	waitFor(t, 10*time.Second, "6 lines", func() bool { return len(s.lines()) == 6 })

	// copytruncate mode: the file is emptied in place and written again.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, root, "var/log/app.log", appLines(7, 7))
	waitFor(t, 10*time.Second, "7 lines", func() bool { return len(s.lines()) == 7 })
	r.stop()

	if got := s.messages(); got != "line-01|line-02|line-03|line-04|line-05|line-06|line-07" {
		t.Fatalf("got %s", got)
	}
	checkBatches(t, s.snapshot(), "ip-10-0-0-1.ec2.internal", "app")
	if s.lines()[6].Seq != 7 {
		t.Fatalf("sequences %v", s.lines())
	}
}

// TestFilelogRestartResume stops the collector, rotates the file while it is down, and checks
// the restarted one sends exactly the lines it had not, in the same stream.
func TestFilelogRestartResume(t *testing.T) {
	root := newHost(t)
	stateDir := t.TempDir()
	path := filepath.Join(root, "var/log/app.log")
	mon := monitor(t, rfcMonitor)
	opts := Options{HostRoot: root, StateDir: stateDir, Now: func() time.Time { return fileNow }, MaxLines: 2}
	appendFile(t, root, "var/log/app.log", appLines(1, 5))
	s := &sink{}
	r := start(t, mon, opts, s)
	waitFor(t, 10*time.Second, "5 lines", func() bool { return len(s.lines()) == 5 })
	r.stop()

	appendFile(t, root, "var/log/app.log", appLines(6, 7))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, root, "var/log/app.log", appLines(8, 9))
	r = start(t, mon, opts, s)
	waitFor(t, 10*time.Second, "9 lines", func() bool { return len(s.lines()) >= 9 })
	r.stop()

	if got := s.messages(); got != "line-01|line-02|line-03|line-04|line-05|line-06|line-07|line-08|line-09" {
		t.Fatalf("got %s", got)
	}
	batches := s.snapshot()
	checkBatches(t, batches, "ip-10-0-0-1.ec2.internal", "app")
	for i, l := range s.lines() {
		if l.Seq != uint64(i+1) {
			t.Fatalf("line %d has seq %d", i, l.Seq)
		}
	}
	if batches[0].StreamId != batches[len(batches)-1].StreamId || !strings.HasPrefix(batches[0].StreamId, "filelog:") {
		t.Fatalf("stream changed across the restart: %s, %s", batches[0].StreamId, batches[len(batches)-1].StreamId)
	}
}

func TestFilelogWaitsForMissingFile(t *testing.T) {
	root := newHost(t)
	s := &sink{}
	r := start(t, monitor(t, rfcMonitor), Options{HostRoot: root, Now: func() time.Time { return fileNow }}, s,
		func(w *Watcher) { w.missing = 10 * time.Millisecond })
	waitFor(t, 10*time.Second, "a status", func() bool { return r.w.Status() != nil })
	if err := r.w.Status(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "app.log does not exist") {
		t.Fatalf("status %v", err)
	}
	appendFile(t, root, "var/log/app.log", appLines(1, 1))
	waitFor(t, 10*time.Second, "the line", func() bool { return s.messages() == "line-01" })
	if err := r.w.Status(); err != nil {
		t.Fatalf("status %v after the file appeared", err)
	}
}

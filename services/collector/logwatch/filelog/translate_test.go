package filelog

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// compatFile is one of NPD's own monitor files, from ../shared/compat/npd beside the workspace.
func compatFile(t *testing.T, name string) *npdconfig.Monitor {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = filepath.Dir(dir)
	}
	m, err := npdconfig.Load(filepath.Join(dir, "..", "shared", "compat", "npd", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTranslateNPDFormats(t *testing.T) {
	utc := time.UTC
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, utc)
	tests := []struct {
		name    string
		file    string
		line    string
		now     time.Time
		time    time.Time
		message string
		err     error // matched with errors.Is; errAny for any error
	}{
		{name: "kern.log", file: "kernel-monitor-filelog.json",
			line:    "Mar  9 23:15:02 node-1 kernel: [ 1234.567890] Out of memory: Killed process 4242 (stress) total-vm:1024kB, anon-rss:512kB, file-rss:0kB",
			time:    time.Date(2026, 3, 9, 23, 15, 2, 0, utc),
			message: "Out of memory: Killed process 4242 (stress) total-vm:1024kB, anon-rss:512kB, file-rss:0kB"},
		{name: "kern.log two-digit day", file: "kernel-monitor-filelog.json",
			line:    "Mar 10 11:59:59 node-1 kernel: [    0.000000] Linux version 6.1.0",
			time:    time.Date(2026, 3, 10, 11, 59, 59, 0, utc),
			message: "Linux version 6.1.0"},
		{name: "kern.log read across new year", file: "kernel-monitor-filelog.json", now: time.Date(2027, 1, 1, 0, 5, 0, 0, utc),
			line:    "Dec 31 23:59:58 node-1 kernel: [  5.0] task docker:1234 blocked for more than 120 seconds.",
			time:    time.Date(2026, 12, 31, 23, 59, 58, 0, utc),
			message: "task docker:1234 blocked for more than 120 seconds."},
		{name: "kern.log not a kernel line", file: "kernel-monitor-filelog.json",
			line: "Mar  9 23:15:02 node-1 systemd[1]: Started foo.service.", err: ErrNoMatch},
		{name: "kern.log short line", file: "kernel-monitor-filelog.json", line: "Mar  9", err: ErrNoMatch},
		{name: "kern.log bad timestamp", file: "kernel-monitor-filelog.json",
			line: "Foo  9 23:15:02 node-1 kernel: [ 1.0] x", err: errAny},
		{name: "docker.log with offset", file: "docker-monitor-filelog.json",
			line:    `time="2026-03-10T11:58:01.123456789+01:00" level=error msg="Error trying v2 registry: failed to register layer: rename /var/lib/docker/image/a /var/lib/docker/image/b: directory not empty"`,
			time:    time.Date(2026, 3, 10, 10, 58, 1, 123456789, utc),
			message: "Error trying v2 registry: failed to register layer: rename /var/lib/docker/image/a /var/lib/docker/image/b: directory not empty"},
		{name: "docker.log in UTC", file: "docker-monitor-filelog.json",
			line:    `time="2026-03-10T11:58:01.5Z" level=info msg="Loading containers: done."`,
			time:    time.Date(2026, 3, 10, 11, 58, 1, 500000000, utc),
			message: "Loading containers: done."},
		{name: "docker.log without msg", file: "docker-monitor-filelog.json",
			line: `time="2026-03-10T11:58:01Z" level=info`, err: ErrNoMatch},
		{name: "messages: whole match", file: "disk-log-message-filelog.json",
			line:    "Mar 10 03:00:01 node-1 smartd[812]: Device: /dev/sda [SAT], 128 Currently unreadable (pending) sectors",
			time:    time.Date(2026, 3, 10, 3, 0, 1, 0, utc),
			message: "Currently unreadable (pending) sectors"},
		{name: "messages: second alternative", file: "disk-log-message-filelog.json",
			line:    "Mar 10 03:00:01 node-1 smartd[812]: Device: /dev/sda [SAT], 9 offline uncorrectable sectors",
			time:    time.Date(2026, 3, 10, 3, 0, 1, 0, utc),
			message: "offline uncorrectable sectors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compatFile(t, tt.file)
			tr := NewTranslator(m.TimestampRegexp(), m.MessageRegexp(), m.PluginConfig.TimestampFormat, utc)
			n := now
			if !tt.now.IsZero() {
				n = tt.now
			}
			when, msg, err := tr.Translate(tt.line, n)
			if tt.err != nil {
				if err == nil || (tt.err != errAny && !errors.Is(err, tt.err)) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !when.Equal(tt.time) || msg != tt.message {
				t.Fatalf("got %v %q, want %v %q", when, msg, tt.time, tt.message)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestTranslateLastSubmatch(t *testing.T) {
	tr := NewTranslator(regexp.MustCompile(`^(\d+) `), regexp.MustCompile(`(a+)(b+)|(c+)`), "2006", time.UTC)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ line, msg string }{
		{"2025 xaabbx", ""},   // the last group did not take part: NPD yields "" too
		{"2025 xcccx", "ccc"}, // the last group did
	} {
		when, msg, err := tr.Translate(tt.line, now)
		if err != nil || msg != tt.msg || when.Year() != 2025 {
			t.Errorf("%q: %v %q %v, want %q", tt.line, when, msg, err, tt.msg)
		}
	}
}

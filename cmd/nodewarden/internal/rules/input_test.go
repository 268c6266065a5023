package rules

import (
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	boot := func(d time.Duration) time.Time { return bootEpoch.Add(d) }
	syslog := time.Date(2000, time.January, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name, format, line string
		msg                string
		at                 time.Time // zero: no time
		style              stampStyle
		skip               bool // carries no message
		err                bool
	}{
		{"plain", FormatAuto, "Killed process 42 (x) total-vm:1kB", "Killed process 42 (x) total-vm:1kB", time.Time{}, styleNone, false, false},
		{"kmsg", FormatAuto, "3,1204,72367116,-;Out of memory: Killed process 42", "Out of memory: Killed process 42", boot(72367116 * time.Microsecond), styleBoot, false, false},
		{"kmsg with more prefix fields", FormatKmsg, "6,7,8,-,caller=T1;hello; world", "hello; world", boot(8 * time.Microsecond), styleBoot, false, false},
		{"kmsg escapes stay as the collector keeps them", FormatKmsg, `4,9,10,-;a\x09b`, `a\x09b`, boot(10 * time.Microsecond), styleBoot, false, false},
		{"kmsg dictionary line", FormatKmsg, " SUBSYSTEM=acpi", "", time.Time{}, styleNone, true, false},
		{"kmsg dictionary line, auto", FormatAuto, " DEVICE=+acpi:PNP0A08:00", "", time.Time{}, styleNone, true, false},
		{"not kmsg", FormatKmsg, "hello", "", time.Time{}, styleNone, false, true},
		{"dmesg", FormatAuto, "[   12.345678] EXT4-fs error (device sda1): x", "EXT4-fs error (device sda1): x", boot(12345678 * time.Microsecond), styleBoot, false, false},
		{"dmesg, short fraction", FormatDmesg, "[5.5] hi", "hi", boot(5500 * time.Millisecond), styleBoot, false, false},
		{"not dmesg", FormatDmesg, "5.5 hi", "", time.Time{}, styleNone, false, true},
		{"kern.log", FormatAuto, "Jan  2 15:04:05 node-1 kernel: [ 1234.567890] task docker:abc blocked for more than 120 seconds.",
			"task docker:abc blocked for more than 120 seconds.", syslog, styleSyslog, false, false},
		{"journalctl -k", FormatSyslog, "Jan 02 15:04:05 node-1 kernel: XFS (sda1): Shutting down filesystem", "XFS (sda1): Shutting down filesystem", syslog, styleSyslog, false, false},
		{"daemon with pid", FormatAuto, "Jan  2 15:04:05 node-1 dockerd[812]: level=error msg=x", "level=error msg=x", syslog, styleSyslog, false, false},
		{"rfc3339", FormatAuto, "2026-05-01T12:00:00.5+02:00 node-1 kernel: hello", "hello",
			time.Date(2026, 5, 1, 10, 0, 0, 5e8, time.UTC), styleISO, false, false},
		{"journalctl short-iso", FormatSyslog, "2026-05-01T12:00:00+0000 node-1 kernel: hello", "hello", time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), styleISO, false, false},
		{"not syslog", FormatSyslog, "[1.0] hello", "", time.Time{}, styleNone, false, true},
		{"plain keeps prefixes", FormatPlain, "[1.0] hello", "[1.0] hello", time.Time{}, styleNone, false, false},
		{"empty", FormatAuto, "", "", time.Time{}, styleNone, true, false},
		{"CRLF", FormatAuto, "hello\r", "hello", time.Time{}, styleNone, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok, err := parseLine(tt.format, tt.line)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if tt.err {
				return
			}
			if ok == tt.skip {
				t.Fatalf("ok = %v", ok)
			}
			if e.msg != tt.msg || e.timed != !tt.at.IsZero() || !e.t.Equal(tt.at) || e.style != tt.style {
				t.Errorf("got %+v, want msg %q at %v style %d", e, tt.msg, tt.at, tt.style)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	at := bootEpoch.Add(72*time.Second + 367116*time.Microsecond)
	for style, want := range map[stampStyle]string{styleBoot: "72.367116", styleNone: "-", styleSyslog: "01-01T00:01:12", styleISO: "1970-01-01T00:01:12.367116Z"} {
		if got := formatTime(at, style); got != want {
			t.Errorf("style %d: %q, want %q", style, got, want)
		}
	}
}

package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/services/collector/logwatch/kmsg"
)

// Input formats `rules test` reads.
const (
	FormatAuto   = "auto"   // each line as whichever of the below it looks like
	FormatPlain  = "plain"  // the message alone
	FormatKmsg   = "kmsg"   // /dev/kmsg records: "pri,seq,usec,flags;message"
	FormatDmesg  = "dmesg"  // "[  123.456789] message"
	FormatSyslog = "syslog" // "Jan  2 15:04:05 host kernel: [  1.2] message" or with an RFC 3339 stamp
)

var formats = []string{FormatAuto, FormatPlain, FormatKmsg, FormatDmesg, FormatSyslog}

// bootEpoch is the clock of boot-relative stamps (kmsg, dmesg): only differences matter.
var bootEpoch = time.Unix(0, 0).UTC()

// stampStyle says how a line's time was written, so a problem's time is shown the same way.
type stampStyle uint8

const (
	styleNone   stampStyle = iota // no time: line numbers only
	styleBoot                     // seconds since boot
	styleSyslog                   // "Jan _2 15:04:05", shown as "01-02T15:04:05"
	styleISO                      // RFC 3339
)

// entry is one input line, parsed.
type entry struct {
	msg   string
	t     time.Time
	timed bool
	style stampStyle
}

var (
	kmsgDictRe = regexp.MustCompile(`^ [A-Z_][A-Z0-9_]*=`)
	dmesgRe    = regexp.MustCompile(`^\[\s*(\d+)\.(\d{1,9})\] ?`)
	// BSD syslog as rsyslog writes /var/log/kern.log and `journalctl` prints by default; the
	// tag ("kernel", "dockerd[123]") is dropped, and so is the kernel's own "[  1.23] " stamp,
	// as NPD's kernel-monitor-filelog.json does.
	bsdRe = regexp.MustCompile(`^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) \S+ [^\s:\[]+(?:\[\d+\])?: (?:\[\s*\d+\.\d+\] )?`)
	// The same with an RFC 3339 stamp (rsyslog's high-precision format, `journalctl -o short-iso`).
	isoRe = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) \S+ [^\s:\[]+(?:\[\d+\])?: (?:\[\s*\d+\.\d+\] )?`)
)

// parseLine reads one line in format. ok is false for lines that carry no message (a kmsg
// record's " KEY=value" dictionary lines, empty lines); an error is a line not in a forced
// format.
func parseLine(format, line string) (e entry, ok bool, err error) {
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return e, false, nil
	}
	try := func(f string) bool { return format == f || format == FormatAuto }
	if try(FormatKmsg) {
		if strings.HasPrefix(line, " ") && (format == FormatKmsg || kmsgDictRe.MatchString(line)) {
			return e, false, nil // a dictionary line of the record before
		}
		var r kmsg.Record
		if kmsg.Parse([]byte(line), &r) == nil {
			return entry{msg: string(r.Message), t: bootEpoch.Add(time.Duration(r.Usec) * time.Microsecond), timed: true, style: styleBoot}, true, nil
		}
	}
	if try(FormatDmesg) {
		if m := dmesgRe.FindStringSubmatchIndex(line); m != nil {
			// Digits only (the expression says so); a stamp too long for int64 ends up 0.
			sec, _ := strconv.ParseInt(line[m[2]:m[3]], 10, 64)
			digits := line[m[4]:m[5]]
			frac, _ := strconv.ParseInt(digits+strings.Repeat("0", 9-len(digits)), 10, 64)
			return entry{msg: line[m[1]:], t: bootEpoch.Add(time.Duration(sec)*time.Second + time.Duration(frac)), timed: true, style: styleBoot}, true, nil
		}
	}
	if try(FormatSyslog) {
		if m := bsdRe.FindStringSubmatchIndex(line); m != nil {
			// No year in the stamp: a leap year, so that Feb 29 parses. Only differences matter.
			if t, err := time.Parse("2006 Jan _2 15:04:05", "2000 "+line[m[2]:m[3]]); err == nil {
				return entry{msg: line[m[1]:], t: t, timed: true, style: styleSyslog}, true, nil
			}
		}
		if m := isoRe.FindStringSubmatchIndex(line); m != nil {
			stamp := line[m[2]:m[3]]
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
				if t, err := time.Parse(layout, stamp); err == nil {
					return entry{msg: line[m[1]:], t: t, timed: true, style: styleISO}, true, nil
				}
			}
		}
	}
	switch format {
	case FormatAuto, FormatPlain:
		return entry{msg: line}, true, nil
	}
	return e, false, fmt.Errorf("not a %s line", format)
}

// formatTime shows t as the input wrote its stamps.
func formatTime(t time.Time, style stampStyle) string {
	switch style {
	case styleBoot:
		d := t.Sub(bootEpoch)
		return fmt.Sprintf("%d.%06d", d/time.Second, (d%time.Second)/time.Microsecond)
	case styleSyslog:
		return t.Format("01-02T15:04:05") // the stamp has no year; no spaces keep the columns apart
	case styleISO:
		return t.Format(time.RFC3339Nano)
	}
	return "-"
}

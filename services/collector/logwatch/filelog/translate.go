// Package filelog follows a plain log file (kern.log, docker.log, messages) the way Node Problem
// Detector's filelog plugin reads it — a timestamp and a message cut out of each line with the
// monitor's regular expressions, the timestamp parsed with its Go layout — but through
// rotation (rename and a new file) and truncation, and from a saved position (device, inode and
// offset) so a restarted reader goes on where it stopped.
package filelog

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ErrNoMatch is wrapped by Translate when a line holds no timestamp or no message.
var ErrNoMatch = errors.New("no match")

// Translator cuts the timestamp and message out of a line, as NPD's filelog translator does.
type Translator struct {
	timestamp, message *regexp.Regexp
	layout, utcLayout  string
	loc                *time.Location
}

// NewTranslator builds a translator from a monitor's pluginConfig: the timestamp and message
// expressions and the timestamp layout. Timestamps without a zone are read in loc.
func NewTranslator(timestamp, message *regexp.Regexp, layout string, loc *time.Location) *Translator {
	if loc == nil {
		loc = time.Local
	}
	t := &Translator{timestamp: timestamp, message: message, layout: layout, loc: loc}
	// A numeric-offset layout ("-07:00", as in NPD's docker-monitor-filelog.json) refuses the
	// "Z" that loggers write for UTC; the "Z07:00" form of the same layout takes both.
	if strings.Contains(layout, "-07") && !strings.Contains(layout, "Z07") {
		t.utcLayout = strings.Replace(layout, "-07", "Z07", 1)
	}
	return t
}

// Translate returns the time and message of line. As in NPD, each expression yields its last
// submatch, or the whole match when it has no group; a timestamp without a year (syslog's
// "Jan _2 15:04:05") is given the year of now — or the year before, when that would put it
// more than a day after now, so December's lines read in January are not dated a year ahead.
// A layout with a numeric zone offset also accepts "Z" (see NewTranslator); NPD refuses it.
func (t *Translator) Translate(line string, now time.Time) (time.Time, string, error) {
	ts, ok := lastSubmatch(t.timestamp, line)
	if !ok {
		return time.Time{}, "", fmt.Errorf("timestamp %v: %w", t.timestamp, ErrNoMatch)
	}
	when, err := time.ParseInLocation(t.layout, ts, t.loc)
	if err != nil && t.utcLayout != "" {
		if w, err2 := time.ParseInLocation(t.utcLayout, ts, t.loc); err2 == nil {
			when, err = w, nil
		}
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("parse timestamp %q: %w", ts, err)
	}
	if when.Year() == 0 {
		when = when.AddDate(now.In(t.loc).Year(), 0, 0)
		if when.After(now.Add(24 * time.Hour)) {
			when = when.AddDate(-1, 0, 0)
		}
	}
	msg, ok := lastSubmatch(t.message, line)
	if !ok {
		return time.Time{}, "", fmt.Errorf("message %v: %w", t.message, ErrNoMatch)
	}
	return when, msg, nil
}

func lastSubmatch(re *regexp.Regexp, s string) (string, bool) {
	m := re.FindStringSubmatchIndex(s)
	if m == nil {
		return "", false
	}
	i := len(m) - 2
	if m[i] < 0 {
		return "", true // the last group took no part in the match: NPD yields "" too
	}
	return s[m[i]:m[i+1]], true
}

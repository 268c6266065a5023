// Package window is the rebooter's reboot window, parsed as kured parses --reboot-days,
// --start-time, --end-time and --time-zone, so kured's settings carry over unchanged. A moment is
// inside the window when its weekday in the window's zone is one of the days and its wall-clock
// time lies between start and end (both inclusive, end to the last nanosecond of its second).
// When start is later than end the window wraps midnight, and, as in kured, the day checked is
// the moment's own day: "fri 23:00–05:00" is open Friday 00:00–05:00 and Friday from 23:00 on.
package window

import (
	"fmt"
	"sort"
	"time"
)

// kured's defaults: every day, all day, UTC.
var (
	DefaultDays = []string{"su", "mo", "tu", "we", "th", "fr", "sa"}
)

// kured's defaults for the other flags.
const (
	DefaultStart    = "0:00"
	DefaultEnd      = "23:59:59"
	DefaultTimeZone = "UTC"
)

const day = 24 * time.Hour

// Window is a weekly schedule of days and a daily span of wall-clock time in one zone.
type Window struct {
	days  weekdays
	loc   *time.Location
	start time.Duration // wall-clock offset from local midnight, whole seconds
	end   time.Duration // last inclusive nanosecond of the end second
	wraps bool
}

// New parses a window from kured's flag values: days as day names, kured's abbreviations or
// numbers 0 (Sunday) to 6; start and end as "23:00", "23:00:00", "11pm", "11:30pm", "23" (see
// parseClock); tz as an IANA name, "Local" or "" (UTC). An empty day list gives a window that
// never opens, as in kured. Errors are *config.Error values naming the flag and its value.
func New(days []string, start, end, tz string) (*Window, error) {
	w := &Window{}
	var err error
	if w.days, err = parseWeekdays(days); err != nil {
		return nil, err
	}
	if w.loc, err = time.LoadLocation(tz); err != nil {
		return nil, invalid("time-zone", tz, "want an IANA time zone name such as Europe/Berlin, or Local: %v", err)
	}
	if w.start, err = parseClock("start-time", start); err != nil {
		return nil, err
	}
	if w.end, err = parseClock("end-time", end); err != nil {
		return nil, err
	}
	w.wraps = w.start > w.end
	w.end += time.Second - time.Nanosecond
	return w, nil
}

// Location is the window's time zone.
func (w *Window) Location() *time.Location { return w.loc }

// Contains reports whether t is inside the window.
func (w *Window) Contains(t time.Time) bool {
	lt := t.In(w.loc)
	if !w.days.contains(lt.Weekday()) {
		return false
	}
	tod := clockOf(lt)
	if w.wraps {
		return tod >= w.start || tod <= w.end
	}
	return tod >= w.start && tod <= w.end
}

// Next returns the earliest moment at or after t inside the window: t itself when the window is
// open, otherwise the moment it next opens. It returns the zero time when the window never opens
// (no days).
func (w *Window) Next(t time.Time) time.Time {
	if w.days == 0 {
		return time.Time{}
	}
	if w.Contains(t) {
		return t
	}
	// Contains can only turn true where the wall clock reaches start, at a midnight, or where the
	// zone's offset changes (a DST jump may skip over start). Try each such moment in the next
	// eight days, earliest first; with at least one day the window opens within a week.
	var cands []time.Time
	lt := t.In(w.loc)
	y, m, d := lt.Date()
	for i := range 9 {
		cands = append(cands, w.wallClock(y, m, d+i, 0)...)
		cands = append(cands, w.wallClock(y, m, d+i, w.start)...)
	}
	for c, limit := lt, lt.Add(9*day); c.Before(limit); {
		_, zoneEnd := c.ZoneBounds()
		if zoneEnd.IsZero() || !zoneEnd.Before(limit) {
			break
		}
		cands = append(cands, zoneEnd)
		c = zoneEnd
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Before(cands[j]) })
	for _, c := range cands {
		if c.After(t) && w.Contains(c) {
			return c.In(t.Location())
		}
	}
	return time.Time{} // unreachable with at least one day; kept so no input can loop or panic
}

// wallClock returns every instant on local day y-m-d whose wall clock reads tod: none in a
// spring-forward gap, two in a fall-back overlap. time.Date picks just one in those cases, so
// each offset in force that day is tried and only exact readings are kept.
func (w *Window) wallClock(y int, m time.Month, d int, tod time.Duration) []time.Time {
	asUTC := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(tod)
	var out []time.Time
	seen := map[int]bool{}
	for _, probe := range []time.Time{time.Date(y, m, d, 0, 0, 0, 0, w.loc), time.Date(y, m, d, 23, 59, 59, 0, w.loc)} {
		_, off := probe.Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		c := asUTC.Add(-time.Duration(off) * time.Second).In(w.loc)
		if cy, cm, cd := c.Date(); cy == asUTC.Year() && cm == asUTC.Month() && cd == asUTC.Day() && clockOf(c) == tod {
			out = append(out, c)
		}
	}
	return out
}

// String describes the window as kured logs it: "---MonTueWedThuFri--- between 09:00 and 17:00
// Europe/Berlin".
func (w *Window) String() string {
	s, e := w.start, w.end-(time.Second-time.Nanosecond)
	return fmt.Sprintf("%s between %02d:%02d and %02d:%02d %s", w.days, int(s.Hours()), int(s.Minutes())%60, int(e.Hours()), int(e.Minutes())%60, w.loc)
}

// clockOf is t's wall-clock time of day.
func clockOf(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

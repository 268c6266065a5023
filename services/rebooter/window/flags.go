package window

import (
	"flag"
	"strings"
)

// Flags are kured's four window flags, for a daemon's AddFlags.
type Flags struct {
	Days     DayList
	Start    string
	End      string
	TimeZone string
}

// AddFlags registers --reboot-days, --start-time, --end-time and --time-zone with kured's
// defaults.
func (f *Flags) AddFlags(fs *flag.FlagSet) {
	f.Days = DayList{days: append([]string(nil), DefaultDays...)}
	fs.Var(&f.Days, "reboot-days", "days reboots may happen on: comma-separated names (su, mon, tuesday, ...) or numbers 0 (Sunday) to 6; repeatable; default every day")
	fs.StringVar(&f.Start, "start-time", DefaultStart, "time of day reboots may start from (23:00, 23:00:00, 11pm, 11:30pm); a start later than --end-time wraps midnight")
	fs.StringVar(&f.End, "end-time", DefaultEnd, "time of day after which reboots may not start (inclusive, to the second)")
	fs.StringVar(&f.TimeZone, "time-zone", DefaultTimeZone, "time zone of --start-time and --end-time and of the day: an IANA name such as Europe/Berlin, or Local")
}

// Window builds the window the flags describe.
func (f *Flags) Window() (*Window, error) {
	return New(f.Days.days, f.Start, f.End, f.TimeZone)
}

// DayList is the --reboot-days value: comma-separated, repeatable, replacing the default on
// first use.
type DayList struct {
	days []string
	set  bool
}

func (l *DayList) String() string { return strings.Join(l.days, ",") }

// Set adds the comma-separated days in v; the first call drops the default.
func (l *DayList) Set(v string) error {
	if !l.set {
		l.days, l.set = nil, true
	}
	if _, err := parseWeekdays([]string{v}); err != nil {
		return err
	}
	l.days = append(l.days, strings.Split(v, ",")...)
	return nil
}

// Days returns the listed day names.
func (l *DayList) Days() []string { return append([]string(nil), l.days...) }

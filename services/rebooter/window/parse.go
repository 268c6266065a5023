package window

import (
	"strconv"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

func invalid(flagName, value, format string, args ...any) error {
	return config.Invalid(flagName, value, format, args...)
}

// dayNames are kured's accepted day names, matched without regard to case.
var dayNames = map[string]time.Weekday{
	"su": time.Sunday, "sun": time.Sunday, "sunday": time.Sunday,
	"mo": time.Monday, "mon": time.Monday, "monday": time.Monday,
	"tu": time.Tuesday, "tue": time.Tuesday, "tuesday": time.Tuesday,
	"we": time.Wednesday, "wed": time.Wednesday, "wednesday": time.Wednesday,
	"th": time.Thursday, "thu": time.Thursday, "thursday": time.Thursday,
	"fr": time.Friday, "fri": time.Friday, "friday": time.Friday,
	"sa": time.Saturday, "sat": time.Saturday, "saturday": time.Saturday,
}

// weekdays is a set of days, bit i for time.Weekday(i).
type weekdays uint8

func (w weekdays) contains(d time.Weekday) bool { return w&(1<<d) != 0 }

// String is kured's form: three letters per day in the set, "---" for each day not in it.
func (w weekdays) String() string {
	var b strings.Builder
	for d := time.Sunday; d <= time.Saturday; d++ {
		if w.contains(d) {
			b.WriteString(d.String()[:3])
		} else {
			b.WriteString("---")
		}
	}
	return b.String()
}

// parseWeekdays parses kured's --reboot-days entries. Each entry may itself be a comma list (the
// form an environment variable gives); empty entries are skipped as kured does. Unlike kured,
// spaces around an entry are ignored, so "mon, tue" works.
func parseWeekdays(days []string) (weekdays, error) {
	var set weekdays
	for _, entry := range days {
		for _, name := range strings.Split(entry, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if n, err := strconv.Atoi(name); err == nil {
				if n < 0 || n > 6 {
					return 0, invalid("reboot-days", name, "day number out of range, want 0 (Sunday) to 6 (Saturday)")
				}
				set |= 1 << n
				continue
			}
			d, ok := dayNames[strings.ToLower(name)]
			if !ok {
				return 0, invalid("reboot-days", name, "want a day name such as su, mon or tuesday, or a number 0 (Sunday) to 6")
			}
			set |= 1 << d
		}
	}
	return set, nil
}

// clockLayouts are kured's time formats, tried in order, plus "3:04pm" so "2:30am" is accepted
// (kured wants "02:30am"). Go's parser takes one-digit hours for "15", so "0:00" and "9:30"
// parse; "pm"/"am" must be lower case, as in kured.
var clockLayouts = []string{"15:04", "15:04:05", "03:04pm", "15", "03pm", "3pm", "3:04pm"}

// parseClock parses a time of day into its offset from midnight.
func parseClock(flagName, s string) (time.Duration, error) {
	for _, layout := range clockLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			h, m, sec := t.Clock()
			return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, nil
		}
	}
	return 0, invalid(flagName, s, "want a time of day such as 23:00, 23:00:00, 11pm or 11:30pm")
}

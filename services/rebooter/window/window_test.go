package window

import (
	"errors"
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available (no tzdata?): %v", name, err)
	}
	return loc
}

// at parses "2006-01-02 15:04:05" in UTC; most cases are written as UTC instants so DST cases
// say exactly which instant they mean.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestContains(t *testing.T) {
	type probe struct {
		utc  string
		want bool
	}
	tests := []struct {
		name                 string
		days, start, end, tz string
		probes               []probe
	}{
		{"kured business hours", "mon,tue,wed,thu,fri", "9am", "5pm", "America/Los_Angeles", []probe{
			{"2019-04-04 07:49:00", false},          // Thu 00:49 PDT
			{"2019-04-05 15:59:00", false},          // Fri 08:59 PDT
			{"2019-04-05 16:00:00", true},           // Fri 09:00 PDT, start inclusive
			{"2019-03-31 17:00:00", false},          // Sun 10:00 PDT
			{"2019-04-04 19:00:00", true},           // Thu 12:00 PDT
			{"2019-04-05 00:00:00.999999999", true}, // Thu 17:00:00.999999999 PDT, end second inclusive
			{"2019-04-05 00:00:01", false},
		}},
		{"kured 24h weekdays", "mo,tu,we,th,fr", "00:00", "23:59:59", "UTC", []probe{
			{"2019-04-18 00:00:00", true},
			{"2019-04-18 23:59:59.999999999", true},
			{"2019-04-20 12:00:00", false}, // Saturday
		}},
		{"wraps midnight, day is the moment's own", "fri", "23:00", "05:00", "UTC", []probe{
			{"2026-11-27 00:30:00", true},  // Fri 00:30
			{"2026-11-27 05:00:00", true},  // end inclusive
			{"2026-11-27 05:01:00", false}, // between end and start
			{"2026-11-27 22:59:59", false},
			{"2026-11-27 23:00:00", true},
			{"2026-11-28 00:30:00", false}, // Sat, not listed
			{"2026-11-26 23:30:00", false}, // Thu, not listed
		}},
		{"kured issue 204 wrap", "mon,tue,wed,thu,fri", "9pm", "5am", "America/Los_Angeles", []probe{
			{"2019-04-04 07:49:00", true},  // Thu 00:49 PDT
			{"2019-04-05 05:49:00", true},  // Thu 22:49 PDT
			{"2019-04-05 15:59:00", false}, // Fri 08:59 PDT
			{"2019-03-31 17:00:00", false}, // Sun 10:00 PDT
		}},
		{"day boundary is the zone's", "sat", "0:00", "23:59:59", "Europe/Berlin", []probe{
			{"2026-11-27 22:59:59", false}, // Fri 23:59:59 CET
			{"2026-11-27 23:00:00", true},  // Sat 00:00 CET, still Friday in UTC
			{"2026-11-28 22:59:59", true},  // Sat 23:59:59 CET
			{"2026-11-28 23:30:00", false}, // Sun 00:30 CET, still Saturday in UTC
		}},
		{"DST spring forward skips 02:30", "su", "02:30", "02:45", "Europe/Berlin", []probe{
			{"2026-03-29 00:59:59", false}, // 01:59:59 CET
			{"2026-03-29 01:00:00", false}, // 03:00 CEST
			{"2026-03-29 01:30:00", false}, // 03:30 CEST (time.Date would put 02:30 here)
		}},
		{"DST fall back opens twice", "su", "02:30", "02:45", "Europe/Berlin", []probe{
			{"2026-10-25 00:30:00", true},  // 02:30 CEST
			{"2026-10-25 00:50:00", false}, // 02:50 CEST
			{"2026-10-25 01:30:00", true},  // 02:30 CET
			{"2026-10-25 01:50:00", false}, // 02:50 CET
		}},
		{"Local zone", "0,1,2,3,4,5,6", "0:00", "23:59:59", "Local", []probe{{"2026-01-01 12:00:00", true}}},
		{"no days never opens", "", "0:00", "23:59:59", "UTC", []probe{{"2026-01-01 12:00:00", false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustLoad(t, tc.tz)
			w, err := New(strings.Split(tc.days, ","), tc.start, tc.end, tc.tz)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for _, p := range tc.probes {
				tm := at(t, p.utc)
				if got := w.Contains(tm); got != p.want {
					t.Errorf("%s.Contains(%s = %s) = %v, want %v", w, p.utc, tm.In(w.Location()).Format(time.RFC3339Nano), got, p.want)
				}
			}
		})
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name                 string
		days, start, end, tz string
		from, want           string // UTC; want "" is the zero time
	}{
		{"inside returns t", "fri", "09:00", "17:00", "UTC", "2026-11-27 12:00:00", "2026-11-27 12:00:00"},
		{"later today", "fri", "09:00", "17:00", "UTC", "2026-11-27 08:00:00", "2026-11-27 09:00:00"},
		{"after close goes to next listed day", "mon,tue,wed,thu,fri", "9am", "5pm", "Europe/Berlin", "2026-11-27 17:00:00", "2026-11-30 08:00:00"},
		{"a week ahead", "thu", "09:00", "17:00", "UTC", "2026-11-26 17:00:01", "2026-12-03 09:00:00"},
		{"wrap opens at the listed day's midnight", "fri", "23:00", "05:00", "UTC", "2026-11-26 12:00:00", "2026-11-27 00:00:00"},
		{"wrap opens again at start", "fri", "23:00", "05:00", "UTC", "2026-11-27 06:00:00", "2026-11-27 23:00:00"},
		{"wrap from the unlisted next day", "fri", "23:00", "05:00", "UTC", "2026-11-28 01:00:00", "2026-12-04 00:00:00"},
		{"zone midnight", "sat", "0:00", "23:59:59", "Europe/Berlin", "2026-11-27 12:00:00", "2026-11-27 23:00:00"},
		{"spring forward skips the window", "su", "02:30", "02:45", "Europe/Berlin", "2026-03-28 12:00:00", "2026-04-05 00:30:00"},
		{"spring forward opens at the jump", "su", "02:30", "03:30", "Europe/Berlin", "2026-03-28 12:00:00", "2026-03-29 01:00:00"},
		{"fall back first occurrence", "su", "02:30", "02:45", "Europe/Berlin", "2026-10-24 12:00:00", "2026-10-25 00:30:00"},
		{"fall back second occurrence", "su", "02:30", "02:45", "Europe/Berlin", "2026-10-25 00:50:00", "2026-10-25 01:30:00"},
		{"no days", "", "0:00", "23:59:59", "UTC", "2026-11-27 12:00:00", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustLoad(t, tc.tz)
			w, err := New(strings.Split(tc.days, ","), tc.start, tc.end, tc.tz)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got := w.Next(at(t, tc.from))
			var want time.Time
			if tc.want != "" {
				want = at(t, tc.want)
			}
			if !got.Equal(want) {
				t.Errorf("%s.Next(%s) = %s, want %s", w, tc.from, got.In(w.Location()), want.In(w.Location()))
			}
		})
	}
}

// TestNextAgainstScan checks Next against a minute-by-minute scan, across a year with both DST
// changes, for windows on whole minutes.
func TestNextAgainstScan(t *testing.T) {
	mustLoad(t, "Europe/Berlin")
	windows := [][4]string{
		{"su,we", "02:30", "02:45", "Europe/Berlin"},
		{"sa,su", "11pm", "1am", "Europe/Berlin"},
		{"fr", "3am", "2:59am", "America/New_York"},
		{"mo", "0:00", "0:00", "Australia/Lord_Howe"}, // half-hour DST shifts
	}
	rng := rand.New(rand.NewPCG(1, 2))
	base := at(t, "2026-01-01 00:00:00")
	for _, spec := range windows {
		mustLoad(t, spec[3])
		w, err := New(strings.Split(spec[0], ","), spec[1], spec[2], spec[3])
		if err != nil {
			t.Fatal(err)
		}
		for range 40 {
			from := base.Add(time.Duration(rng.IntN(365*24*60)) * time.Minute)
			got := w.Next(from)
			if !w.Contains(got) || got.Before(from) {
				t.Fatalf("%s.Next(%s) = %s, which is not an open moment at or after it", w, from, got)
			}
			for m := from; m.Before(got); m = m.Add(time.Minute) {
				if w.Contains(m) {
					t.Fatalf("%s.Next(%s) = %s, but %s is already open", w, from, got, m)
				}
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name                 string
		days                 []string
		start, end, tz, flag string
	}{
		{"unknown day", []string{"mon", "funday"}, "0:00", "23:59", "UTC", "reboot-days"},
		{"day number too big", []string{"7"}, "0:00", "23:59", "UTC", "reboot-days"},
		{"negative day", []string{"-1"}, "0:00", "23:59", "UTC", "reboot-days"},
		{"hour out of range", nil, "25:00", "23:59", "UTC", "start-time"},
		{"minutes out of range", nil, "0:00", "23:60", "UTC", "end-time"},
		{"upper-case PM as in kured", nil, "0:00", "11PM", "UTC", "end-time"},
		{"words", nil, "midnight", "23:59", "UTC", "start-time"},
		{"empty time", nil, "", "23:59", "UTC", "start-time"},
		{"unknown zone", nil, "0:00", "23:59", "Mars/Olympus_Mons", "time-zone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.days, tc.start, tc.end, tc.tz)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Flag != tc.flag {
				t.Fatalf("New = %v, want a config error for --%s", err, tc.flag)
			}
			if !strings.Contains(err.Error(), "--"+tc.flag) {
				t.Errorf("error %q does not name --%s", err, tc.flag)
			}
		})
	}
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"23:00", 23 * time.Hour},
		{"0:00", 0},
		{"9:05", 9*time.Hour + 5*time.Minute},
		{"23:59:59", 24*time.Hour - time.Second},
		{"11pm", 23 * time.Hour},
		{"12am", 0},
		{"12pm", 12 * time.Hour},
		{"02:30am", 2*time.Hour + 30*time.Minute},
		{"2:30am", 2*time.Hour + 30*time.Minute},
		{"11:30pm", 23*time.Hour + 30*time.Minute},
		{"03pm", 15 * time.Hour},
		{"17", 17 * time.Hour},
	}
	for _, tc := range tests {
		got, err := parseClock("start-time", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseClock(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	mustLoad(t, "Europe/Berlin")
	w, err := New([]string{"sun", "Saturday"}, "2am", "5:00", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.String(), "Sun---------------Sat between 02:00 and 05:00 Europe/Berlin"; got != want {
		t.Errorf("String = %q, want kured's %q", got, want)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "SunMonTueWedThuFriSat between 00:00 and 23:59 UTC"},
		{[]string{"--reboot-days=mon,tue", "--reboot-days", "fr", "--start-time=11pm", "--end-time=2:30am", "--time-zone=Europe/Berlin"},
			"---MonTue------Fri--- between 23:00 and 02:30 Europe/Berlin"},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var f Flags
		f.AddFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		w, err := f.Window()
		if err != nil {
			t.Fatal(err)
		}
		if w.String() != tc.want {
			t.Errorf("flags %q: window %q, want %q", tc.args, w, tc.want)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	var f Flags
	f.AddFlags(fs)
	if err := fs.Parse([]string{"--reboot-days=someday"}); err == nil || !strings.Contains(err.Error(), "someday") {
		t.Errorf("bad --reboot-days: err = %v, want one naming the value", err)
	}
}

func FuzzNew(f *testing.F) {
	f.Add("mon,tue", "11pm", "2:30am", "Europe/Berlin", int64(0))
	f.Add("su", "02:30", "02:45", "Europe/Berlin", int64(1774745400))
	f.Add("", "0:00", "23:59:59", "UTC", int64(-1))
	f.Fuzz(func(t *testing.T, days, start, end, tz string, unix int64) {
		if strings.ContainsAny(tz, "/.") && tz != "Europe/Berlin" {
			tz = "UTC" // keep the fuzzer off the filesystem
		}
		w, err := New(strings.Split(days, ","), start, end, tz)
		if err != nil {
			if !config.IsConfigError(err) {
				t.Fatalf("New error %v is not a config error", err)
			}
			return
		}
		from := time.Unix(unix%(1<<40), 0)
		next := w.Next(from)
		if !next.IsZero() && (!w.Contains(next) || next.Before(from)) {
			t.Fatalf("%s.Next(%s) = %s: not open or before", w, from, next)
		}
		_ = w.String()
	})
}

package counter

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

type refLine struct {
	t   time.Time
	msg string
}

type transition struct {
	at     time.Time
	status bool
}

// reference is log-counter re-done plainly: at every moment something can change — a line
// arrives (it counts at once), or a counted line's window ends (it stops counting just after
// t + lookback) — count every line in the window again, from scratch, and note when
// "count ≥ Count" flips. Lines at the same instant as a window's end are counted first (the
// window is inclusive). Expiries are looked at only before end.
func reference(r *Rule, lines []refLine, end time.Time) []transition {
	pat := regexp.MustCompile(r.Pattern.String() + `\z`)
	var rev *regexp.Regexp
	if r.RevertPattern != nil {
		rev = regexp.MustCompile(r.RevertPattern.String() + `\z`)
	}
	weight := func(msg string) int {
		w := 0
		if pat.MatchString(msg) {
			w++
		}
		if rev != nil && rev.MatchString(msg) {
			w--
		}
		return w
	}
	type event struct {
		at     time.Time
		expiry bool
		line   int
	}
	var evs []event
	for i, l := range lines {
		evs = append(evs, event{at: l.t, line: i})
		if weight(l.msg) != 0 {
			if e := l.t.Add(r.Window); e.Before(end) {
				evs = append(evs, event{at: e, expiry: true, line: i})
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].at.Equal(evs[j].at) {
			return evs[i].at.Before(evs[j].at)
		}
		return !evs[i].expiry && evs[j].expiry
	})
	var out []transition
	status := false
	for _, ev := range evs {
		sum := 0
		for j, l := range lines {
			if ev.expiry {
				// Just after the window of the expiring line ended: lines seen by then, whose
				// window has not ended.
				if !l.t.After(ev.at) && l.t.Add(r.Window).After(ev.at) {
					sum += weight(l.msg)
				}
			} else if j <= ev.line && !l.t.Before(ev.at.Add(-r.Window)) {
				sum += weight(l.msg)
			}
		}
		if s := sum >= r.Count; s != status {
			status = s
			out = append(out, transition{ev.at, s})
		}
	}
	return out
}

// The Node equals the plain recount on random lines, whatever the tick cadence.
func TestNodeEqualsReference(t *testing.T) {
	files := []struct {
		path          string
		match, revert string
	}{
		{filepath.Join(compatDir(t), "kernel-monitor-counter.json"), netdev, ""},
		{filepath.Join("testdata", "revert-and-temporary.json"), oom, reaped},
	}
	gaps := []time.Duration{0, 0, time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute, 9 * time.Minute,
		10 * time.Minute, 11 * time.Minute, 19 * time.Minute, 20 * time.Minute, 21 * time.Minute}
	for _, tf := range files {
		f := load(t, tf.path)
		r := &f.Rules[0]
		for seed := range uint64(300) {
			rng := rand.New(rand.NewPCG(seed, 7))
			var lines []refLine
			at := t0
			for range 5 + rng.IntN(40) {
				at = at.Add(gaps[rng.IntN(len(gaps))])
				msg := "eth0: link up"
				switch p := rng.IntN(10); {
				case p < 4:
					msg = tf.match
				case p < 6 && tf.revert != "":
					msg = tf.revert
				}
				lines = append(lines, refLine{at, msg})
			}
			end := at.Add(time.Hour)
			want := reference(r, lines, end)
			for _, cadence := range []time.Duration{0, time.Second * 17, 3 * time.Minute} {
				got := runNode(f, lines, end, cadence)
				if !slices.Equal(got, want) {
					t.Fatalf("%s seed %d, ticks every %v:\n got %v\nwant %v\nlines %v", filepath.Base(tf.path), seed, cadence, got, want, lines)
				}
			}
		}
	}
}

// runNode feeds lines to a new Node, ticking every cadence between them (0: never), then
// once at end, and returns its changes to rule 0's condition.
func runNode(f *File, lines []refLine, end time.Time, cadence time.Duration) []transition {
	n := f.NewNode()
	var got []transition
	note := func(cs []Change) {
		for _, c := range cs {
			if c.Condition == f.Rules[0].Condition {
				got = append(got, transition{c.Time, c.Status})
			}
		}
	}
	next := t0.Add(cadence)
	for i, l := range lines {
		for cadence > 0 && next.Before(l.t) {
			note(n.Tick(next))
			next = next.Add(cadence)
		}
		note(n.Observe(f.Rules[0].LogSource, matcher.Line{Seq: uint64(i + 1), Time: l.t, Message: l.msg}))
	}
	note(n.Tick(end))
	return got
}

func (t transition) String() string { return fmt.Sprintf("%v@%v", t.status, t.at.Sub(t0)) }
func (l refLine) String() string    { return fmt.Sprintf("%v:%.10s", l.t.Sub(t0), l.msg) }

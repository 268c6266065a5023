package counter

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	netdev  = "unregister_netdevice: waiting for eth0 to become free. Usage count = 1"
	found3  = "Found 3 matching logs, which meets the threshold of 3"
	noNet   = "NoFrequentUnregisterNetDevice"
	okMsg   = "node is functioning properly"
	oom     = "Out of memory: Killed process 4242 (stress) total-vm:1024kB"
	reaped  = "oom_reaper: reaped process 4242 (stress), now anon-rss:0kB"
	kernel  = "kernel-monitor"
	min20   = 20 * time.Minute
	found2  = "Found 2 matching logs, which meets the threshold of 2"
	netCond = "FrequentUnregisterNetDevice"
)

// step is one input to a Node: a line (msg set), a Tick, or a Restore.
type step struct {
	at      time.Duration // after t0
	source  string        // default kernel-monitor
	msg     string
	tick    bool
	restore *restore
}

type restore struct {
	cond   string
	status bool
	reason string
}

func line(at time.Duration, msg string) step { return step{at: at, msg: msg} }
func tick(at time.Duration) step             { return step{at: at, tick: true} }

// want is a Change in short: "at cond status reason message" or "at event reason message".
func change(at time.Duration, c Change) string {
	if c.Event {
		return fmt.Sprintf("%v event %s %q seq=%d", at, c.Reason, c.Message, c.Seq)
	}
	return fmt.Sprintf("%v %s=%v %s %q seq=%d", at, c.Condition, c.Status, c.Reason, c.Message, c.Seq)
}

func run(f *File, steps []step) []string {
	n := f.NewNode()
	var got []string
	for i, s := range steps {
		var cs []Change
		switch {
		case s.restore != nil:
			n.Restore(s.restore.cond, s.restore.status, s.restore.reason, t0.Add(s.at))
		case s.tick:
			cs = n.Tick(t0.Add(s.at))
		default:
			src := s.source
			if src == "" {
				src = kernel
			}
			cs = n.Observe(src, matcher.Line{Seq: uint64(i + 1), Time: t0.Add(s.at), Message: s.msg})
		}
		for _, c := range cs {
			if c.Source != f.Source {
				got = append(got, "wrong source "+c.Source)
			}
			got = append(got, change(c.Time.Sub(t0), c))
		}
	}
	return got
}

func TestNodeKernelCounter(t *testing.T) {
	f := load(t, filepath.Join(compatDir(t), "kernel-monitor-counter.json"))
	up := func(at time.Duration, seq int) string {
		return change(at, Change{Condition: netCond, Status: true, Reason: "UnregisterNetDevice", Message: found3, Seq: uint64(seq)})
	}
	down := func(at time.Duration) string {
		return change(at, Change{Condition: netCond, Status: false, Reason: noNet, Message: okMsg})
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"three in the window, then the window slides past the first",
			[]step{line(0, netdev), line(time.Minute, "eth0: link up"), line(5*time.Minute, netdev), line(10*time.Minute, netdev),
				tick(19 * time.Minute), tick(21 * time.Minute)},
			[]string{up(10*time.Minute, 4), down(min20)}},
		{"three spread wider than the window",
			[]step{line(0, netdev), line(15*time.Minute, netdev), line(21*time.Minute, netdev), tick(time.Hour)},
			nil},
		{"the window is inclusive at both ends",
			[]step{line(0, netdev), line(10*time.Minute, netdev), line(min20, netdev), tick(min20), tick(min20 + 1)},
			[]string{up(min20, 3), down(min20)}},
		{"a fourth keeps it True until the second leaves",
			[]step{line(0, netdev), line(time.Minute, netdev), line(2*time.Minute, netdev), line(3*time.Minute, netdev), tick(time.Hour)},
			[]string{up(2*time.Minute, 3), down(min20 + time.Minute)}},
		{"expiry is found by the next line too, at its own time",
			[]step{line(0, netdev), line(time.Minute, netdev), line(2*time.Minute, netdev), line(30*time.Minute, netdev)},
			[]string{up(2*time.Minute, 3), down(min20)}},
		{"lines of other sources do not count",
			[]step{line(0, netdev), {at: time.Minute, source: "docker-monitor", msg: netdev}, {at: 2 * time.Minute, source: "docker-monitor", msg: netdev}, tick(time.Hour)},
			nil},
		{"the pattern must reach the end of the line",
			[]step{line(0, netdev+" (retrying)"), line(time.Minute, netdev+" (retrying)"), line(2*time.Minute, netdev+" (retrying)")},
			nil},
		{"a clock stepping back counts the line at the latest time",
			[]step{line(10*time.Minute, netdev), line(0, netdev), line(time.Minute, netdev), tick(30*time.Minute + 1), tick(time.Hour)},
			[]string{up(10*time.Minute, 3), down(30 * time.Minute)}},
		{"rises again after falling",
			[]step{line(0, netdev), line(0, netdev), line(0, netdev), tick(time.Hour), line(time.Hour, netdev), line(time.Hour, netdev), line(time.Hour, netdev)},
			[]string{up(0, 3), down(min20), up(time.Hour, 7)}},
		{"ticks before the last line change nothing",
			[]step{line(time.Hour, netdev), tick(0), tick(time.Hour)},
			nil},
		{"a restored True holds one window, then clears",
			[]step{{at: 0, restore: &restore{netCond, true, "UnregisterNetDevice"}}, tick(min20), tick(min20 + 1)},
			[]string{down(min20)}},
		{"a restored True is not announced again when its rule fires",
			[]step{{at: 0, restore: &restore{netCond, true, "UnregisterNetDevice"}}, line(time.Minute, netdev), line(2*time.Minute, netdev),
				line(3*time.Minute, netdev), tick(min20 + time.Minute), tick(time.Hour)},
			[]string{down(min20 + time.Minute)}},
		{"a restored False is the default",
			[]step{{at: 0, restore: &restore{netCond, false, ""}}, line(time.Minute, netdev), line(2*time.Minute, netdev), line(3*time.Minute, netdev)},
			[]string{up(3*time.Minute, 4)}},
		{"restoring an unknown condition is ignored",
			[]step{{at: 0, restore: &restore{"Other", true, "X"}}, tick(time.Hour)},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(f, tt.steps); !slices.Equal(got, tt.want) {
				t.Errorf("changes\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}

func TestNodeRevertAndTemporary(t *testing.T) {
	f := load(t, filepath.Join("testdata", "revert-and-temporary.json"))
	up := func(at time.Duration, seq int) string {
		return change(at, Change{Condition: "FrequentOOMKilling", Status: true, Reason: "OOMKillingOften", Message: found2, Seq: uint64(seq)})
	}
	down := func(at time.Duration, seq int) string {
		return change(at, Change{Condition: "FrequentOOMKilling", Reason: "NoFrequentOOMKilling", Message: "no frequent OOM kills", Seq: uint64(seq)})
	}
	burst := func(at time.Duration, seq int) string {
		return change(at, Change{Event: true, Reason: "OOMBurst", Message: found2, Seq: uint64(seq)})
	}
	docker := func(at time.Duration, msg string) step { return step{at: at, source: "docker-monitor", msg: msg} }
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"a reaped process takes one back",
			[]step{line(0, oom), line(time.Minute, reaped), line(2*time.Minute, oom), line(3*time.Minute, oom), tick(time.Hour)},
			// counts: 0m 1, 1m 0, 2m 1, 3m 2; then as each leaves the window: 10m 1, 11m 2, 12m 1
			[]string{up(3*time.Minute, 4), down(10*time.Minute, 0), up(11*time.Minute, 0), down(12*time.Minute, 0)}},
		{"a revert leaving the window raises the count",
			[]step{line(0, reaped), line(time.Minute, oom), line(2*time.Minute, oom), tick(10*time.Minute + 1), tick(time.Hour)},
			[]string{up(10*time.Minute, 0), down(11*time.Minute, 0)}},
		{"a temporary rule raises an event each time its count reaches Count",
			[]step{docker(0, "container abc oom"), docker(time.Second, "container abc oom"), docker(2*time.Second, "container abc oom"),
				docker(5*time.Minute, "container abc oom"), docker(5*time.Minute+time.Second, "container abc oom")},
			[]string{burst(time.Second, 2), burst(5*time.Minute+time.Second, 5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(f, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("changes\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
	// The rule asks for a reboot: the change to True says so, the change back does not.
	n := f.NewNode()
	var cs []Change
	for i := range 2 {
		cs = append(cs, n.Observe(kernel, matcher.Line{Seq: uint64(i + 1), Time: t0, Message: oom})...)
	}
	cs = append(cs, n.Tick(t0.Add(time.Hour))...)
	if len(cs) != 2 || !cs[0].Reboot || cs[0].Severity != "critical" || cs[1].Reboot || cs[1].Severity != "critical" {
		t.Errorf("changes %+v", cs)
	}
}

// Two rules on one condition: True while either fires, with the reason of the first in file
// order that fires; a change of reason while True is reported, as NPD does.
func TestNodeTwoRulesOneCondition(t *testing.T) {
	f := load(t, filepath.Join("testdata", "two-rules.json"))
	leak := "leaked netdevice veth1"
	got := run(f, []step{line(0, leak), line(time.Minute, netdev), line(2*time.Minute, netdev), line(3*time.Minute, netdev), tick(time.Hour)})
	want := []string{
		change(0, Change{Condition: netCond, Status: true, Reason: "NetDeviceLeak", Message: "Found 1 matching logs, which meets the threshold of 1", Seq: 1}),
		change(3*time.Minute, Change{Condition: netCond, Status: true, Reason: "UnregisterNetDevice", Message: found3, Seq: 4}),
		change(min20+time.Minute, Change{Condition: netCond, Reason: noNet, Message: okMsg}),
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	// A restored True holds its window even when a shorter rule fires and stops meanwhile.
	got = run(f, []step{{at: 0, restore: &restore{netCond, true, "UnregisterNetDevice"}}, line(time.Minute, leak), tick(10 * time.Minute), tick(time.Hour)})
	want = []string{
		change(time.Minute, Change{Condition: netCond, Status: true, Reason: "NetDeviceLeak", Message: "Found 1 matching logs, which meets the threshold of 1", Seq: 2}),
		change(min20, Change{Condition: netCond, Reason: noNet, Message: okMsg}),
	}
	if !slices.Equal(got, want) {
		t.Errorf("after restore\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// A pattern spanning lines is matched on log-counter's buffer, as NPD's log buffer does.
func TestNodeMultiline(t *testing.T) {
	f := load(t, filepath.Join("testdata", "multiline.json"))
	steps := []step{
		{at: 0, source: "hung-monitor", msg: "INFO: task kworker:1 blocked"},
		{at: time.Second, source: "hung-monitor", msg: "Call Trace:"},
		{at: time.Minute, source: "hung-monitor", msg: "Call Trace:"}, // not right after a blocked line
		{at: 2 * time.Minute, source: "hung-monitor", msg: "INFO: task kworker:2 blocked"},
		{at: 2*time.Minute + time.Second, source: "hung-monitor", msg: "Call Trace:"},
	}
	got := run(f, steps)
	want := []string{change(2*time.Minute+time.Second, Change{Condition: "RepeatedHungTask", Status: true, Reason: "HungTaskTrace",
		Message: "Found 2 matching logs, which meets the threshold of 2", Seq: 5})}
	if !slices.Equal(got, want) {
		t.Errorf("changes\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// The True message is cut at max_output_length, as NPD cuts a plugin's output.
func TestNodeMessageCut(t *testing.T) {
	f := load(t, filepath.Join(compatDir(t), "kernel-monitor-counter.json"))
	f.MaxOutputLength = 10
	n := f.NewNode()
	var cs []Change
	for i := range 3 {
		cs = append(cs, n.Observe(kernel, matcher.Line{Seq: uint64(i), Time: t0, Message: netdev})...)
	}
	if len(cs) != 1 || cs[0].Message != "Found 3 ma" || !n.Status(netCond) {
		t.Fatalf("changes %+v", cs)
	}
}

// Lines that match nothing cost no allocation.
func TestObserveNoMatchAllocs(t *testing.T) {
	f := load(t, filepath.Join(compatDir(t), "kernel-monitor-counter.json"))
	n := f.NewNode()
	l := matcher.Line{Seq: 1, Time: t0, Message: "eth0: renamed from veth1234"}
	allocs := testing.AllocsPerRun(1000, func() {
		l.Seq++
		l.Time = l.Time.Add(time.Millisecond)
		n.Observe(kernel, l)
		n.Observe("docker-monitor", l)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per line", allocs)
	}
}

func BenchmarkObserve(b *testing.B) {
	f := load(b, filepath.Join(compatDir(b), "kernel-monitor-counter.json"))
	n := f.NewNode()
	l := matcher.Line{Time: t0, Message: "IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Seq = uint64(i)
		l.Time = l.Time.Add(time.Millisecond)
		n.Observe(kernel, l)
	}
}

package healthrules

import (
	"testing"
	"time"
)

const (
	m = time.Minute
	h = 30 * time.Second
)

func TestThreshold(t *testing.T) {
	memTrue := chg("NodeMemoryLow", true, "NodeMemoryLow", SourceThreshold, 0)
	memFalse := chg("NodeMemoryLow", false, "NodeHasMemory", SourceThreshold, 0)
	diskTrue := chg("DiskSpaceLow", true, "DiskSpaceLow", SourceThreshold, 1)
	diskFalse := chg("DiskSpaceLow", false, "DiskSpaceOK", SourceThreshold, 1)
	// low is a sample with 3 % of memory available.
	low := func(seq uint64, at time.Duration) sample { return smp(seq, at).mem(0.03) }
	tests := []struct {
		name  string
		steps []step
	}{
		{"true only after holding for `for`, then no repeat", []step{
			{in: low(1, 0)}, {in: low(2, m)}, {in: low(3, 2*m)}, {in: low(4, 3*m)}, {in: low(5, 4*m)},
			{in: low(6, 5*m), want: []string{memTrue}, msg: "memory is low: memory_available_ratio is 3.0% (< 5.0%) for 5m"},
			{in: low(7, 6*m)},
		}},
		{"a sample off the bound restarts `for`", []step{
			{in: low(1, 0)}, {in: low(2, m)}, {in: low(3, 2*m)}, {in: low(4, 3*m)},
			{in: smp(5, 4*m).mem(0.06)},
			{in: low(6, 5*m)}, {in: low(7, 6*m)}, {in: low(8, 9*m)},
			{in: low(9, 10*m), want: []string{memTrue}},
		}},
		{"a sample without the metric breaks the run", []step{
			{in: low(1, 0)}, {in: low(2, 2*m)}, {in: smp(3, 3*m).noMem()},
			{in: low(4, 4*m)}, {in: low(5, 8*m)},
			{in: low(6, 9*m), want: []string{memTrue}},
		}},
		{"hysteresis: clears only above clearThreshold, after clearFor", []step{
			{in: low(1, 0)}, {in: low(2, 5*m), want: []string{memTrue}},
			{in: smp(3, 6*m).mem(0.07)}, // off the set bound, inside the clear bound: still firing
			{in: smp(4, 7*m).mem(0.12)},
			{in: smp(5, 7*m+h).mem(0.12)},
			{in: smp(6, 8*m).mem(0.12), want: []string{memFalse}, msg: "node has memory"},
			{in: smp(7, 9*m).mem(0.12)},
		}},
		{"holding again restarts clearFor", []step{
			{in: low(1, 0)}, {in: low(2, 5*m), want: []string{memTrue}},
			{in: smp(3, 6*m).mem(0.12)}, {in: smp(4, 6*m+h).mem(0.08)},
			{in: smp(5, 7*m).mem(0.12)}, {in: smp(6, 7*m+59*time.Second).mem(0.12)},
			{in: smp(7, 8*m).mem(0.12), want: []string{memFalse}},
		}},
		{"mount points have their own timers; a glob selects them", []step{
			{in: smp(1, 0).fs("/var/lib", .95).fs("/var/log", .5).fs("/var", .99).fs("/data", .99)},
			{in: smp(2, m).fs("/var/lib", .95).fs("/var/log", .5).fs("/var", .99).fs("/data", .99)},
			{in: smp(3, m+h).fs("/var/lib", .5).fs("/var/log", .95).fs("/var", .99).fs("/data", .99)},
			{in: smp(4, 2*m).fs("/var/lib", .5).fs("/var/log", .95).fs("/var", .99).fs("/data", .99)},
			{in: smp(5, 3*m).fs("/var/lib", .5).fs("/var/log", .95)},
			{in: smp(6, 3*m+h).fs("/var/lib", .5).fs("/var/log", .95), want: []string{diskTrue},
				msg: "disk is filling: filesystem_used_ratio on /var/log is 95.0% (> 90.0%) for 2m"},
			{in: smp(7, 4*m).fs("/var/lib", .96).fs("/var/log", .95)},
			// /var/log clears; /var/lib has held for only 1m, so nothing fires.
			{in: smp(8, 5*m).fs("/var/lib", .96).fs("/var/log", .5), want: []string{diskFalse}},
			{in: smp(9, 6*m).fs("/var/lib", .96).fs("/var/log", .5), want: []string{diskTrue}, msg: "on /var/lib is 96.0%"},
		}},
		{"a vanished mount point stops holding", []step{
			{in: smp(1, 0).fs("/var/lib", .95)},
			{in: smp(2, 2*m).fs("/var/lib", .95), want: []string{diskTrue}},
			{in: smp(3, 2*m+h).fs("/", .5), want: []string{diskFalse}},
		}},
		{"two rules share a condition: True while either fires", []step{
			{in: smp(1, 0).fs("/", .995), want: []string{chg("DiskSpaceLow", true, "RootFull", SourceThreshold, 2)},
				msg: "root is full: filesystem_avail_bytes on / is 512.0MiB (< 1.0GiB)"},
			{in: smp(2, m).fs("/", .995).fs("/var/lib", .95)},
			{in: smp(3, 3*m).fs("/", .5).fs("/var/lib", .95)}, // root fine, /var/lib fires: still True
			{in: smp(4, 4*m).fs("/", .5).fs("/var/lib", .5), want: []string{diskFalse}},
		}},
		{"a reboot restarts `for`", []step{
			{in: low(1, 0)}, {in: low(2, 4*m)},
			{in: low(1, 4*m+h).boot("boot-b", t0.Add(4*m))},
			{in: low(2, 5*m).boot("boot-b", t0.Add(4*m))},
			{in: low(3, 9*m).boot("boot-b", t0.Add(4*m))},
			{in: low(4, 9*m+h).boot("boot-b", t0.Add(4*m)), want: []string{memTrue}},
		}},
		{"a reboot keeps the status and restarts clearFor", []step{
			{in: low(1, 0)}, {in: low(2, 5*m), want: []string{memTrue}},
			{in: smp(3, 6*m).mem(0.12)},
			{in: smp(1, 6*m+h).mem(0.12).boot("boot-b", t0.Add(6*m))},
			{in: smp(2, 7*m).mem(0.12).boot("boot-b", t0.Add(6*m))},
			{in: smp(3, 7*m+h).mem(0.12).boot("boot-b", t0.Add(6*m)), want: []string{memFalse}},
		}},
		{"duplicates, late samples and earlier collector runs are ignored", []step{
			{in: low(1, 0)}, {in: low(2, m)}, {in: low(2, m)}, {in: low(4, 3*m)},
			{in: smp(3, 2*m).mem(0.5)}, // late: would break the run
			{in: smp(99, 4*m).mem(0.5).boot("boot-a", start0.Add(-time.Hour))}, // an earlier run
			{in: low(5, 5*m), want: []string{memTrue}},
		}},
		{"a clock stepping back within a run does not run timers backwards", []step{
			{in: smp(1, m)},
			{in: low(2, 0)}, // evaluated at 1m
			{in: low(3, 2*m)}, {in: low(4, 5*m)},
			{in: low(5, 6*m), want: []string{memTrue}},
		}},
		{"pressure: absent never holds", []step{
			{in: smp(1, 0)}, {in: smp(2, h)},
			{in: smp(3, m).ioFull(25)},
			{in: smp(4, m+h).ioFull(25), want: []string{chg("IOStalled", true, "IOStalled", SourceThreshold, 3)},
				msg: "pressure_io_full_avg10 is 25.0% (>= 20.0%) for 30s"},
			{in: smp(5, 2*m), want: []string{chg("IOStalled", false, "IONotStalled", SourceThreshold, 3)}},
		}},
		{"inodes on every mount; a filesystem without an inode count has no value", []step{
			{in: smp(1, 0).fs("/", .5).withNoInodes()},
			{in: smp(2, h).fs("/", .5).inodes(.97), want: []string{chg("InodesLow", true, "InodesLow", SourceThreshold, 4)},
				msg: "filesystem_inodes_used_ratio on / is 97.0% (> 95.0%)"},
		}},
		{"samples without a time are ignored", []step{
			{in: smp(1, 0).fs("/", .999).withoutTime()},
		}},
	}
	c := testConfig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, c.NewNode(), tt.steps) })
	}
}

func (s sample) withNoInodes() sample {
	for _, f := range s.Filesystems {
		f.Files, f.FilesFree = 0, 0
	}
	return s
}

func (s sample) withoutTime() sample { s.Time = nil; return s }

func TestRestoreThreshold(t *testing.T) {
	c := testConfig(t)
	t.Run("restored True is not announced again and clears after clearFor", func(t *testing.T) {
		n := c.NewNode()
		n.Restore("NodeMemoryLow", true)
		run(t, n, []step{{in: smp(1, 0).mem(0.03)}, {in: smp(2, m).mem(0.12)},
			{in: smp(3, 2*m).mem(0.12), want: []string{chg("NodeMemoryLow", false, "NodeHasMemory", SourceThreshold, 0)}}})
	})
	t.Run("restored True of a per-mount condition clears when no mount holds", func(t *testing.T) {
		n := c.NewNode()
		n.Restore("DiskSpaceLow", true)
		run(t, n, []step{{in: smp(1, 0).fs("/", .5).fs("/var/lib", .5),
			want: []string{chg("DiskSpaceLow", false, "DiskSpaceOK", SourceThreshold, 1)}}})
	})
	t.Run("restored True holds while a mount is over", func(t *testing.T) {
		n := c.NewNode()
		n.Restore("DiskSpaceLow", true)
		run(t, n, []step{{in: smp(1, 0).fs("/", .5).fs("/var/lib", .95)}, {in: smp(2, 10*m).fs("/", .5).fs("/var/lib", .95)}})
		if !n.Status("DiskSpaceLow") {
			t.Fatal("restored condition lost")
		}
	})
}

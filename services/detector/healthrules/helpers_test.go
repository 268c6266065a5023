package healthrules

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// t0 is the time of the scenarios; every input is placed at an offset from it.
var (
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	start0 = t0.Add(-time.Hour) // the collector's start
)

const gib = 1 << 30

func report(comp string, seq uint64, at time.Duration, healthy bool) *nwv1.HealthReport {
	r := &nwv1.HealthReport{Node: "n1", Component: comp, Seq: seq, Time: timestamppb.New(t0.Add(at)), Healthy: healthy}
	if !healthy {
		r.Message = "connection refused"
	}
	return r
}

func fail(comp string, seq uint64, at time.Duration) *nwv1.HealthReport {
	return report(comp, seq, at, false)
}

func ok(comp string, seq uint64, at time.Duration) *nwv1.HealthReport {
	return report(comp, seq, at, true)
}

// sample builds a NodeSample: 100 GiB of memory, half available, boot "boot-a", no filesystems.
type sample struct{ *nwv1.NodeSample }

func smp(seq uint64, at time.Duration) sample {
	return sample{&nwv1.NodeSample{Node: "n1", Seq: seq, Time: timestamppb.New(t0.Add(at)), BootId: "boot-a",
		CollectorStart: timestamppb.New(start0),
		Memory:         &nwv1.MemoryStats{TotalBytes: 100 * gib, AvailableBytes: 50 * gib}}}
}

// mem sets available memory as a ratio of the total.
func (s sample) mem(avail float64) sample {
	s.Memory.AvailableBytes = uint64(avail * float64(s.Memory.TotalBytes))
	return s
}

func (s sample) noMem() sample { s.Memory = nil; return s }

// fs adds a 100 GiB filesystem with the used ratio given (no reserved blocks) and half its
// inodes used.
func (s sample) fs(mount string, used float64) sample {
	free := uint64((1 - used) * 100 * gib)
	s.Filesystems = append(s.Filesystems, &nwv1.FilesystemStats{Mountpoint: mount, Device: "/dev/vda1", Fstype: "ext4",
		SizeBytes: 100 * gib, FreeBytes: free, AvailBytes: free, Files: 1000, FilesFree: 500})
	return s
}

// inodes sets the inode use of the last filesystem added.
func (s sample) inodes(used float64) sample {
	f := s.Filesystems[len(s.Filesystems)-1]
	f.FilesFree = uint64((1 - used) * float64(f.Files))
	return s
}

func (s sample) ioFull(avg10 float64) sample {
	s.Pressure = &nwv1.PressureStats{IoFull: &nwv1.PressureLine{Avg10: avg10}}
	return s
}

func (s sample) psiMemFull(avg60 float64) sample {
	s.Pressure = &nwv1.PressureStats{MemoryFull: &nwv1.PressureLine{Avg60: avg60}}
	return s
}

// boot moves the sample to another boot, from a collector started at start.
func (s sample) boot(id string, start time.Time) sample {
	s.BootId, s.CollectorStart = id, timestamppb.New(start)
	return s
}

// step is one input and the changes it must cause, written "Cond=true/Reason/source[rule]".
type step struct {
	in   any // *nwv1.HealthReport or sample
	want []string
	msg  string // a part of the message of the change, when there is one
}

func chg(cond string, status bool, reason, source string, rule int) string {
	return fmt.Sprintf("%s=%v/%s/%s[%d]", cond, status, reason, source, rule)
}

// run feeds the steps to n and checks each step's changes, their times and severities.
func run(t *testing.T, n *Node, steps []step) {
	t.Helper()
	for i, st := range steps {
		var got []Change
		var at time.Time
		switch in := st.in.(type) {
		case *nwv1.HealthReport:
			got, at = n.Health(in), in.GetTime().AsTime()
		case sample:
			got, at = n.Sample(in.NodeSample), in.GetTime().AsTime()
		default:
			t.Fatalf("step %d: input %T", i, st.in)
		}
		var gotS []string
		for _, c := range got {
			gotS = append(gotS, chg(c.Condition, c.Status, c.Reason, c.Source, c.Rule))
			if !c.Time.Equal(at) {
				t.Errorf("step %d: change time %v, want the input's %v", i, c.Time, at)
			}
			if want := ruleSeverity(n.cfg, c); c.Severity != want {
				t.Errorf("step %d: severity %q, want %q", i, c.Severity, want)
			}
		}
		if !slices.Equal(gotS, st.want) {
			t.Fatalf("step %d (%s): changes %q, want %q", i, describe(st.in), gotS, st.want)
		}
		if st.msg != "" && (len(got) != 1 || !strings.Contains(got[0].Message, st.msg)) {
			t.Errorf("step %d: message %q, want it to contain %q", i, got[0].Message, st.msg)
		}
	}
}

func ruleSeverity(c *Config, ch Change) string {
	if ch.Source == SourceHealth {
		return c.HealthRules[ch.Rule].Severity
	}
	return c.ThresholdRules[ch.Rule].Severity
}

func describe(in any) string {
	switch in := in.(type) {
	case *nwv1.HealthReport:
		return fmt.Sprintf("%s seq %d at %v healthy %v", in.Component, in.Seq, in.Time.AsTime().Sub(t0), in.Healthy)
	case sample:
		return fmt.Sprintf("sample seq %d at %v", in.Seq, in.Time.AsTime().Sub(t0))
	}
	return fmt.Sprint(in)
}

func testConfig(t testing.TB) *Config {
	t.Helper()
	c, err := Load(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

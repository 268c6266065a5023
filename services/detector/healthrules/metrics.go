package healthrules

import (
	"fmt"
	"strings"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// unit says what a metric's values are, for bound checks and messages.
type unit int

const (
	unitRatio   unit = iota // 0..1, shown as a percentage
	unitPercent             // 0..100 (PSI averages)
	unitBytes
	unitPlain
)

// metricDef is one metric a threshold rule may name. A node metric has one value per sample, a
// filesystem metric one per mount point; ok is false where the sample lacks what it needs (no
// meminfo, no /proc/pressure, a filesystem without an inode count), and an absent value never
// holds.
type metricDef struct {
	name     string
	unit     unit
	perMount bool
	node     func(*nwv1.NodeSample) (v float64, ok bool)
	fs       func(*nwv1.FilesystemStats) (v float64, ok bool)
}

// metricList is the fixed set of metrics, in the README's order.
var metricList = buildMetrics()

var metricByName = func() map[string]*metricDef {
	m := map[string]*metricDef{}
	for _, d := range metricList {
		m[d.name] = d
	}
	return m
}()

func buildMetrics() []*metricDef {
	ms := []*metricDef{
		{name: "memory_available_ratio", unit: unitRatio, node: func(s *nwv1.NodeSample) (float64, bool) {
			m := s.GetMemory()
			if m.GetTotalBytes() == 0 {
				return 0, false
			}
			return float64(m.GetAvailableBytes()) / float64(m.GetTotalBytes()), true
		}},
		{name: "memory_available_bytes", unit: unitBytes, node: func(s *nwv1.NodeSample) (float64, bool) {
			m := s.GetMemory()
			return float64(m.GetAvailableBytes()), m.GetTotalBytes() > 0
		}},
		// As df's Use%: used / (used + available to unprivileged users), so the blocks reserved
		// for root count as unavailable, which is what breaks pods.
		{name: "filesystem_used_ratio", unit: unitRatio, perMount: true, fs: func(f *nwv1.FilesystemStats) (float64, bool) {
			size, free, avail := f.GetSizeBytes(), f.GetFreeBytes(), f.GetAvailBytes()
			if size == 0 || free > size {
				return 0, false
			}
			used := size - free
			if used+avail == 0 {
				return 0, false
			}
			return float64(used) / float64(used+avail), true
		}},
		{name: "filesystem_avail_bytes", unit: unitBytes, perMount: true, fs: func(f *nwv1.FilesystemStats) (float64, bool) {
			return float64(f.GetAvailBytes()), f.GetSizeBytes() > 0
		}},
		// Filesystems without a fixed inode table (btrfs) report 0 files: no value.
		{name: "filesystem_inodes_used_ratio", unit: unitRatio, perMount: true, fs: func(f *nwv1.FilesystemStats) (float64, bool) {
			files, free := f.GetFiles(), f.GetFilesFree()
			if files == 0 || free > files {
				return 0, false
			}
			return float64(files-free) / float64(files), true
		}},
	}
	for _, l := range []struct {
		name string
		get  func(*nwv1.LoadAverage) float64
	}{
		{"load1_per_core", (*nwv1.LoadAverage).GetLoad1},
		{"load5_per_core", (*nwv1.LoadAverage).GetLoad5},
		{"load15_per_core", (*nwv1.LoadAverage).GetLoad15},
	} {
		get := l.get
		ms = append(ms, &metricDef{name: l.name, unit: unitPlain, node: func(s *nwv1.NodeSample) (float64, bool) {
			cores := s.GetCpu().GetCores()
			if cores == 0 || s.GetLoad() == nil {
				return 0, false
			}
			return get(s.GetLoad()) / float64(cores), true
		}})
	}
	for _, p := range []struct {
		name string
		line func(*nwv1.PressureStats) *nwv1.PressureLine
	}{
		{"cpu_some", (*nwv1.PressureStats).GetCpuSome},
		{"memory_some", (*nwv1.PressureStats).GetMemorySome},
		{"memory_full", (*nwv1.PressureStats).GetMemoryFull},
		{"io_some", (*nwv1.PressureStats).GetIoSome},
		{"io_full", (*nwv1.PressureStats).GetIoFull},
	} {
		for _, a := range []struct {
			name string
			get  func(*nwv1.PressureLine) float64
		}{
			{"avg10", (*nwv1.PressureLine).GetAvg10},
			{"avg60", (*nwv1.PressureLine).GetAvg60},
			{"avg300", (*nwv1.PressureLine).GetAvg300},
		} {
			line, get := p.line, a.get
			ms = append(ms, &metricDef{name: "pressure_" + p.name + "_" + a.name, unit: unitPercent,
				node: func(s *nwv1.NodeSample) (float64, bool) {
					l := line(s.GetPressure())
					return get(l), l != nil
				}})
		}
	}
	return ms
}

// ops are the comparison operators a threshold rule may use.
var ops = []string{"<", "<=", ">", ">="}

// compare is `v op bound`.
func compare(v float64, op string, bound float64) bool {
	switch op {
	case "<":
		return v < bound
	case "<=":
		return v <= bound
	case ">":
		return v > bound
	case ">=":
		return v >= bound
	}
	return false
}

// format shows a value in the metric's unit, for condition messages.
func (m *metricDef) format(v float64) string {
	switch m.unit {
	case unitRatio:
		return fmt.Sprintf("%.1f%%", v*100)
	case unitPercent:
		return fmt.Sprintf("%.1f%%", v)
	case unitBytes:
		return formatBytes(v)
	}
	return fmt.Sprintf("%.2f", v)
}

func formatBytes(v float64) string {
	const units = "KMGTPE"
	if v < 1024 {
		return fmt.Sprintf("%.0fB", v)
	}
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%ciB", v, units[i])
}

// shortDuration writes 5m rather than 5m0s.
func shortDuration(d fmt.Stringer) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

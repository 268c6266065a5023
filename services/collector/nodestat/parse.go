package nodestat

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/collector/internal/bytesparse"
)

// userHZ is the unit of /proc/stat times: USER_HZ is 100 on every Linux architecture that
// Kubernetes runs on (the kernel converts to it whatever CONFIG_HZ is).
const userHZ = 100

// errMalformed marks parse errors, so the reader counts them apart from read errors.
var errMalformed = errors.New("malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// parseStat reads the aggregate "cpu" line (user nice system idle iowait irq softirq steal
// guest guest_nice, in USER_HZ; kernels before 2.6.33 print fewer, which stay zero) and counts the
// "cpuN" lines, one per online CPU.
func parseStat(b []byte, f [][]byte) (*nwv1.CPUStats, error) {
	var cpu *nwv1.CPUStats
	var cores uint32
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		if len(line) < 3 || line[0] != 'c' || line[1] != 'p' || line[2] != 'u' {
			continue
		}
		f = bytesparse.Fields(line, f)
		if string(f[0]) != "cpu" {
			if _, err := bytesparse.Uint(f[0][3:]); err == nil {
				cores++
			}
			continue
		}
		if cpu != nil {
			return nil, malformed("two cpu lines")
		}
		if len(f) < 5 {
			return nil, malformed("cpu line has %d fields, want at least 5", len(f))
		}
		var ticks [8]uint64
		for i := 1; i < len(f) && i <= len(ticks); i++ {
			v, err := bytesparse.Uint(f[i])
			if err != nil {
				return nil, malformed("cpu field %d %q", i, f[i])
			}
			ticks[i-1] = v
		}
		cpu = &nwv1.CPUStats{
			UserSeconds:    float64(ticks[0]) / userHZ,
			NiceSeconds:    float64(ticks[1]) / userHZ,
			SystemSeconds:  float64(ticks[2]) / userHZ,
			IdleSeconds:    float64(ticks[3]) / userHZ,
			IowaitSeconds:  float64(ticks[4]) / userHZ,
			IrqSeconds:     float64(ticks[5]) / userHZ,
			SoftirqSeconds: float64(ticks[6]) / userHZ,
			StealSeconds:   float64(ticks[7]) / userHZ,
		}
	}
	if cpu == nil {
		return nil, malformed("no cpu line")
	}
	cpu.Cores = cores
	return cpu, nil
}

// parseLoadavg reads the first three fields of /proc/loadavg ("1.59 1.96 1.42 3/86 5455").
func parseLoadavg(b []byte, f [][]byte) (*nwv1.LoadAverage, error) {
	line, _ := bytesparse.NextLine(b)
	f = bytesparse.Fields(line, f)
	if len(f) < 3 {
		return nil, malformed("%d fields, want at least 3", len(f))
	}
	var v [3]float64
	for i := range v {
		x, err := bytesparse.Float(f[i])
		if err != nil {
			return nil, malformed("load field %d %q", i+1, f[i])
		}
		v[i] = x
	}
	return &nwv1.LoadAverage{Load1: v[0], Load5: v[1], Load15: v[2]}, nil
}

// parseMeminfo reads the fields the sample needs from /proc/meminfo ("MemTotal:  24684084 kB").
// MemTotal is required; kernels before 3.14 have no MemAvailable, which then stays zero.
func parseMeminfo(b []byte, f [][]byte) (*nwv1.MemoryStats, error) {
	m := &nwv1.MemoryStats{}
	haveTotal := false
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		if len(line) == 0 {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, malformed("line %q has no key", line)
		}
		var dst *uint64
		switch string(line[:colon]) {
		case "MemTotal":
			dst, haveTotal = &m.TotalBytes, true
		case "MemFree":
			dst = &m.FreeBytes
		case "MemAvailable":
			dst = &m.AvailableBytes
		case "Buffers":
			dst = &m.BuffersBytes
		case "Cached":
			dst = &m.CachedBytes
		case "SwapTotal":
			dst = &m.SwapTotalBytes
		case "SwapFree":
			dst = &m.SwapFreeBytes
		default:
			continue
		}
		f = bytesparse.Fields(line[colon+1:], f)
		if len(f) == 0 || len(f) > 2 {
			return nil, malformed("line %q", line)
		}
		v, err := bytesparse.Uint(f[0])
		if err != nil {
			return nil, malformed("line %q", line)
		}
		if len(f) == 2 {
			if string(f[1]) != "kB" || v > math.MaxUint64/1024 {
				return nil, malformed("line %q", line)
			}
			v *= 1024
		}
		*dst = v
	}
	if !haveTotal {
		return nil, malformed("no MemTotal")
	}
	return m, nil
}

// parsePressure reads a /proc/pressure file: a "some" line and, except for cpu on kernels before
// 5.13, a "full" line, each "avg10=0.00 avg60=0.00 avg300=0.00 total=0" (total in microseconds).
func parsePressure(b []byte, f [][]byte) (some, full *nwv1.PressureLine, err error) {
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		if len(line) == 0 {
			continue
		}
		f = bytesparse.Fields(line, f)
		if len(f) != 5 {
			return nil, nil, malformed("line %q", line)
		}
		var p nwv1.PressureLine
		var seen [4]bool
		for _, kv := range f[1:] {
			eq := bytes.IndexByte(kv, '=')
			if eq < 0 {
				return nil, nil, malformed("field %q", kv)
			}
			k, v := kv[:eq], kv[eq+1:]
			var perr error
			var i int
			switch string(k) {
			case "avg10":
				i = 0
				p.Avg10, perr = bytesparse.Float(v)
			case "avg60":
				i = 1
				p.Avg60, perr = bytesparse.Float(v)
			case "avg300":
				i = 2
				p.Avg300, perr = bytesparse.Float(v)
			case "total":
				i = 3
				p.TotalUsec, perr = bytesparse.Uint(v)
			default:
				perr = errMalformed
			}
			if perr != nil || seen[i] {
				return nil, nil, malformed("field %q", kv)
			}
			seen[i] = true
		}
		switch string(f[0]) {
		case "some":
			if some != nil {
				return nil, nil, malformed("two some lines")
			}
			some = &p
		case "full":
			if full != nil {
				return nil, nil, malformed("two full lines")
			}
			full = &p
		default:
			return nil, nil, malformed("line %q", line)
		}
	}
	if some == nil {
		return nil, nil, malformed("no some line")
	}
	return some, full, nil
}

// parseUptime reads the first field of /proc/uptime ("3183.96 3718.82").
func parseUptime(b []byte, f [][]byte) (float64, error) {
	line, _ := bytesparse.NextLine(b)
	f = bytesparse.Fields(line, f)
	if len(f) == 0 {
		return 0, malformed("empty")
	}
	v, err := bytesparse.Float(f[0])
	if err != nil {
		return 0, malformed("uptime %q", f[0])
	}
	return v, nil
}

// parseBootID checks /proc/sys/kernel/random/boot_id: one token (a UUID) on one line.
func parseBootID(b []byte) ([]byte, error) {
	id := bytes.TrimSpace(b)
	if len(id) == 0 || len(id) > 64 || bytes.ContainsAny(id, " \t\n") {
		return nil, malformed("boot id %q", id)
	}
	return id, nil
}

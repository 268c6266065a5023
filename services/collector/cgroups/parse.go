package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/nodewarden/nodewarden/services/collector/internal/bytesparse"
)

// The parsers work on the bytes of one read, without splitting into strings: a pass parses
// thousands of small files and allocations would cost more than the parsing. Keys a sample does
// not use are skipped without looking at their values. They return an error for a file whose
// shape is wrong (empty, a line without a value, a value that is not a number); the caller counts
// it and keeps what was parsed.

var (
	errEmpty  = errors.New("empty file")
	errSyntax = bytesparse.ErrSyntax // also the number parsers' error, so errors.Is matches both
	errRange  = bytesparse.ErrRange
)

// unlimitedV1 is where cgroup v1 starts to print "no limit": the kernel reports
// PAGE_COUNTER_MAX pages in bytes (9223372036854771712 on 4 KiB pages), so anything this large is
// not a limit anyone set.
const unlimitedV1 = 1 << 62

// parseUint parses a file holding one unsigned number (memory.current, pids.current, ...).
func parseUint(b []byte) (uint64, error) {
	b = bytesparse.TrimSpace(b)
	if len(b) == 0 {
		return 0, errEmpty
	}
	return bytesparse.Uint(b)
}

// parseMax parses a cgroup v2 limit file holding a number or "max"; unlimited is reported as
// ok=false.
func parseMax(b []byte) (v uint64, limited bool, err error) {
	b = bytesparse.TrimSpace(b)
	if len(b) == 0 {
		return 0, false, errEmpty
	}
	if string(b) == "max" {
		return 0, false, nil
	}
	v, err = bytesparse.Uint(b)
	return v, err == nil, err
}

// parseKV reads a flat keyed file of "key value" lines (cpu.stat, memory.stat, memory.events,
// cpuacct.stat, memory.oom_control): vals[i] gets the value of keys[i], and bit i of found says it
// was there. Values of other keys are not parsed.
func parseKV(b []byte, keys []string, vals []uint64) (found uint32, err error) {
	clear(vals)
	if len(bytesparse.TrimSpace(b)) == 0 {
		return 0, errEmpty
	}
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		if len(line) == 0 {
			continue
		}
		key, rest := bytesparse.Field(line)
		for i, k := range keys {
			if string(key) != k {
				continue
			}
			val, _ := bytesparse.Field(rest)
			v, verr := bytesparse.Uint(val)
			if verr != nil {
				// Keep going: one bad line should not cost the other values.
				if err == nil {
					err = fmt.Errorf("key %s: %w", k, verr)
				}
				break
			}
			vals[i] = v
			found |= 1 << i
			break
		}
	}
	return found, err
}

// cpuMax is cgroup v2 cpu.max: "max 100000" or "50000 100000" (quota and period in µs).
func parseCPUMax(b []byte) (quota int64, period uint64, err error) {
	b = bytesparse.TrimSpace(b)
	if len(b) == 0 {
		return 0, 0, errEmpty
	}
	q, rest := bytesparse.Field(b)
	p, rest := bytesparse.Field(rest)
	if len(rest) != 0 || len(p) == 0 {
		return 0, 0, errSyntax
	}
	if period, err = bytesparse.Uint(p); err != nil {
		return 0, 0, err
	}
	if string(q) == "max" {
		return -1, period, nil
	}
	u, err := bytesparse.Uint(q)
	if err != nil || u > math.MaxInt64 {
		return 0, 0, errSyntax
	}
	return int64(u), period, nil
}

// weightToShares converts cgroup v2 cpu.weight (1..10000) back to v1 cpu.shares (2..262144) the
// way cAdvisor's convertCPUWeightToCPULimit does, so container_spec_cpu_shares stays comparable
// across versions. It inverts runc's linear shares→weight mapping, so it is lossy: kubelet's 256
// shares become weight 10 and come back as 237.
func weightToShares(w uint64) (uint64, error) {
	if w < 1 || w > 10000 {
		return 0, errRange
	}
	return 2 + ((w-1)*262142)/9999, nil
}

// ioTotals sums the read and write bytes and operations of every device.
type ioTotals struct{ rbytes, wbytes, rios, wios uint64 }

// parseIOStat parses cgroup v2 io.stat: "MAJ:MIN rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
// per device. An empty file is normal (no I/O yet).
func parseIOStat(b []byte, t *ioTotals) error {
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		dev, rest := bytesparse.Field(line)
		if len(dev) == 0 {
			continue
		}
		if bytes.IndexByte(dev, ':') < 0 {
			return errSyntax
		}
		for len(rest) > 0 {
			var kv []byte
			kv, rest = bytesparse.Field(rest)
			eq := bytes.IndexByte(kv, '=')
			if eq < 0 {
				return errSyntax
			}
			var dst *uint64
			switch string(kv[:eq]) {
			case "rbytes":
				dst = &t.rbytes
			case "wbytes":
				dst = &t.wbytes
			case "rios":
				dst = &t.rios
			case "wios":
				dst = &t.wios
			default:
				continue
			}
			v, err := bytesparse.Uint(kv[eq+1:])
			if err != nil {
				return err
			}
			*dst += v
		}
	}
	return nil
}

// parseBlkio parses a cgroup v1 blkio.throttle.io_service_bytes / io_serviced file:
// "MAJ:MIN Read 123" ... per device and operation, then a "Total N" line. It sums Read and Write
// over devices.
func parseBlkio(b []byte) (read, write uint64, err error) {
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		dev, rest := bytesparse.Field(line)
		if len(dev) == 0 || string(dev) == "Total" {
			continue
		}
		op, rest := bytesparse.Field(rest)
		val, _ := bytesparse.Field(rest)
		if bytes.IndexByte(dev, ':') < 0 || len(val) == 0 {
			return 0, 0, errSyntax
		}
		var dst *uint64
		switch string(op) {
		case "Read":
			dst = &read
		case "Write":
			dst = &write
		default:
			continue
		}
		v, err := bytesparse.Uint(val)
		if err != nil {
			return 0, 0, err
		}
		*dst += v
	}
	return read, write, nil
}

// parseFirstPid returns the first non-zero pid of a cgroup.procs file (0 when there is none: a
// pid outside the reader's pid namespace reads as 0).
func parseFirstPid(b []byte) (int, error) {
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		line = bytesparse.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		v, err := bytesparse.Uint(line)
		if err != nil {
			return 0, err
		}
		if v > math.MaxInt32 {
			return 0, errRange
		}
		if v != 0 {
			return int(v), nil
		}
	}
	return 0, nil
}

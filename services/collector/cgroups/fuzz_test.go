package cgroups

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/collector/internal/bytesparse"
)

// Run one with: go test -run '^$' -fuzz FuzzParseKV ./services/collector/cgroups/
// The seed corpus is every file of the testdata trees whose name matches.

func seed(f *testing.F, names ...string) {
	f.Helper()
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, n := range names {
			if d.Name() == n {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				f.Add(b)
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

// kvReference is parseKV written plainly, to check the fast one against.
func kvReference(s string, keys []string) (vals []uint64, found uint32, failed bool) {
	vals = make([]uint64, len(keys))
	if strings.Trim(s, " \t\n") == "" {
		return vals, 0, true
	}
	for _, line := range strings.Split(s, "\n") {
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(f) == 0 {
			continue
		}
		for i, k := range keys {
			if f[0] != k {
				continue
			}
			val := ""
			if len(f) > 1 {
				val = f[1]
			}
			v, err := strconv.ParseUint(val, 10, 64)
			if err != nil || strings.HasPrefix(val, "+") {
				failed = true
				break
			}
			vals[i], found = v, found|1<<i
			break
		}
	}
	return vals, found, failed
}

func FuzzParseKV(f *testing.F) {
	seed(f, "cpu.stat", "memory.stat", "memory.events", "cpuacct.stat", "memory.oom_control")
	f.Add([]byte("usage_usec 1\n\tnr_throttled\t2 3\nthrottled_usec x\n"))
	keys := []string{"usage_usec", "nr_throttled", "throttled_usec", "inactive_file", "total_rss", "oom_kill", "user"}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals := make([]uint64, len(keys))
		found, err := parseKV(b, keys, vals)
		want, wantFound, wantFail := kvReference(string(b), keys)
		if found != wantFound || (err != nil) != wantFail {
			t.Fatalf("found %b err %v; reference found %b failed %v", found, err, wantFound, wantFail)
		}
		for i := range keys {
			if vals[i] != want[i] {
				t.Fatalf("%s = %d; reference %d", keys[i], vals[i], want[i])
			}
		}
	})
}

func FuzzParseCPUMax(f *testing.F) {
	seed(f, "cpu.max")
	f.Add([]byte("max 100000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, p, err := parseCPUMax(b)
		// The reference: two fields, "max" or a non-negative int64, then a uint64.
		fs := strings.FieldsFunc(strings.Trim(string(b), " \t\n"), func(r rune) bool { return r == ' ' || r == '\t' })
		ok := len(fs) == 2
		var wq int64
		var wp uint64
		if ok {
			var perr error
			if wp, perr = strconv.ParseUint(fs[1], 10, 64); perr != nil {
				ok = false
			}
			if fs[0] == "max" {
				wq = -1
			} else if u, qerr := strconv.ParseUint(fs[0], 10, 64); qerr != nil || u > 1<<63-1 {
				ok = false
			} else {
				wq = int64(u)
			}
		}
		if (err == nil) != ok || (ok && (q != wq || p != wp)) {
			t.Fatalf("parseCPUMax(%q) = %d, %d, %v; reference %d, %d, ok %v", b, q, p, err, wq, wp, ok)
		}
	})
}

func FuzzParseIOStat(f *testing.F) {
	seed(f, "io.stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		var tot ioTotals
		if err := parseIOStat(b, &tot); err == nil && len(strings.TrimSpace(string(b))) == 0 && tot != (ioTotals{}) {
			t.Fatalf("no devices but totals %+v", tot)
		}
	})
}

func FuzzParseBlkio(f *testing.F) {
	seed(f, "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, w, err := parseBlkio(b)
		if err == nil && !strings.Contains(string(b), "Read") && r != 0 {
			t.Fatalf("no Read line but read %d", r)
		}
		if err == nil && !strings.Contains(string(b), "Write") && w != 0 {
			t.Fatalf("no Write line but write %d", w)
		}
	})
}

// FuzzFlat covers the one-value files: memory.current, pids.current, memory.max,
// cpu.cfs_quota_us, cpu.weight.
func FuzzFlat(f *testing.F) {
	seed(f, "memory.current", "pids.current", "memory.max", "cpu.cfs_quota_us", "cpu.weight", "memory.limit_in_bytes")
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseUint(b)
		if want, werr := strconv.ParseUint(strings.Trim(string(b), " \t\n"), 10, 64); (err == nil) != (werr == nil) || (err == nil && v != want) {
			t.Fatalf("parseUint(%q) = %d, %v; strconv says %d, %v", b, v, err, want, werr)
		}
		if v, limited, err := parseMax(b); err == nil && !limited && v != 0 {
			t.Fatalf("parseMax(%q) = %d unlimited", b, v)
		}
		if v, err := bytesparse.Int(bytesparse.TrimSpace(b)); err == nil {
			if back, _ := strconv.ParseInt(string(bytesparse.TrimSpace(b)), 10, 64); back != v {
				t.Fatalf("Int(%q) = %d, strconv says %d", b, v, back)
			}
		}
		if _, err := parseFirstPid(b); err != nil {
			return
		}
	})
}

func FuzzParseNetDev(f *testing.F) {
	seed(f, "dev")
	f.Fuzz(func(t *testing.T, b []byte) {
		ifs, _ := parseNetDev(b, nil)
		for _, i := range ifs {
			if string(i.name) == "lo" || len(i.name) == 0 {
				t.Fatalf("interface %q kept", i.name)
			}
		}
	})
}

// FuzzSpecs feeds every file parser of both cgroup versions the same input: a sample must come
// out of any file contents.
func FuzzSpecs(f *testing.F) {
	seed(f, "cpu.stat", "memory.stat", "io.stat", "cpu.max", "cpuacct.stat", "memory.oom_control")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, specs := range [][]fileSpec{v2Files, v2Limits, v1Files, v1Limits} {
			for _, sp := range specs {
				a := acc{cpu: &nwv1.ContainerCPU{}, mem: &nwv1.ContainerMemory{}, blk: &nwv1.ContainerBlkio{},
					s: &nwv1.ContainerSample{}, lim: &limits{}}
				_ = sp.parse(&a, b)
				a.finish()
				if a.mem.WorkingSetBytes > a.mem.UsageBytes {
					t.Fatalf("%s: working set %d above usage %d", sp.name, a.mem.WorkingSetBytes, a.mem.UsageBytes)
				}
			}
		}
	})
}

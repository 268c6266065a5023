//go:build linux

package cgroups

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmarks measure one steady-state pass (the tree known and the files open, as every pass
// but the first), the first pass of a new collector, and a naive pass over the same tree: walk it
// and os.ReadFile every file of every container cgroup. The naive pass is the in-run stand-in for
// cAdvisor's cost shape, which opens about 29 files per container; it reads all of them (about 80
// per container here), so compare per file as well as per pass. Custom metrics:
//
//	files/op     files read per pass
//	cpu-ms/op    user+system CPU time of the process per pass (getrusage), GC included
//	maxrss-MiB   the process's peak RSS so far (run one benchmark alone for its own peak)
//	rss-MiB      the process's RSS after the loop
//	held-files   files the collector keeps open between passes
//	kmem-MiB     kernel memory charged to the test's memory cgroup by the first pass, which opens
//	             the held files (their seq_file buffers); absent where it cannot be read

var sizes = []int{10, 1000}

func v2TreeFixture(b *testing.B, n int) string {
	return fixture(b, "v2tree/"+strconv.Itoa(n), func() (string, func() error, error) {
		dir, err := os.MkdirTemp("", "nw-cgroups-bench-")
		if err != nil {
			return "", nil, err
		}
		return dir, func() error { return os.RemoveAll(dir) }, genV2Tree(dir, n)
	})
}

func realTreeFixture(b *testing.B, n int) *realTree {
	mounts := realV1Mounts(b)
	return fixture(b, "real/"+strconv.Itoa(n), func() (*realTree, func() error, error) {
		pods, per := n/4, 4
		if n < 100 {
			pods, per = n/2, 2
		}
		t, err := makeRealTree(b, mounts, pods, per)
		if err == nil {
			err = t.populate()
		}
		return t, t.remove, err
	})
}

func BenchmarkCollectV2Tree(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchCollect(b, Options{Root: v2TreeFixture(b, n)}, n) })
	}
}

func BenchmarkCollectRealV1(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchCollect(b, Options{CgroupRoot: realTreeFixture(b, n).top}, n) })
	}
	// The same without held files: open+read+close every file on every pass.
	b.Run("1000/no-held-files", func(b *testing.B) {
		benchCollect(b, Options{CgroupRoot: realTreeFixture(b, 1000).top, MaxHeldFiles: -1}, 1000)
	})
}

// BenchmarkCollectFirstPass is a new collector's first pass: discovery, opening every file,
// reading the limits; then Close.
func BenchmarkCollectFirstPass(b *testing.B) {
	b.Run("v2tree/1000", func(b *testing.B) { benchFirstPass(b, Options{Root: v2TreeFixture(b, 1000)}, 1000) })
	b.Run("realv1/1000", func(b *testing.B) { benchFirstPass(b, Options{CgroupRoot: realTreeFixture(b, 1000).top}, 1000) })
}

func BenchmarkNaiveWalkV2Tree(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			dirs := []string{filepath.Join(v2TreeFixture(b, n), "sys/fs/cgroup/kubepods.slice")}
			measure(b, func() int { return naivePass(b, dirs, n) })
		})
	}
}

func BenchmarkNaiveWalkRealV1(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			t := realTreeFixture(b, n)
			var dirs []string
			for _, m := range t.mounts {
				dirs = append(dirs, m+t.top)
			}
			measure(b, func() int { return naivePass(b, dirs, n) })
		})
	}
}

func benchCollect(b *testing.B, opts Options, want int) {
	c := New(opts)
	defer func() { _ = c.Close() }()
	collect := func() int {
		_, _, st, err := c.Collect()
		if err != nil || st.Containers != want || st.FirstError != nil {
			b.Fatalf("Collect: %d containers (want %d), %v, %v", st.Containers, want, err, st.FirstError)
		}
		return st.FilesRead
	}
	kmem := kernelMemory()
	collect() // discovery and opening: the first pass has a benchmark of its own
	after := kernelMemory()
	measure(b, collect)
	b.ReportMetric(float64(c.held), "held-files")
	if kmem >= 0 && after >= 0 { // reported after the loop, which resets the metrics
		b.ReportMetric(float64(after-kmem)/(1<<20), "kmem-MiB")
	}
}

func benchFirstPass(b *testing.B, opts Options, want int) {
	measure(b, func() int {
		c := New(opts)
		_, _, st, err := c.Collect()
		_ = c.Close()
		if err != nil || st.Containers != want {
			b.Fatalf("Collect: %d containers (want %d), %v", st.Containers, want, err)
		}
		return st.FilesRead
	})
}

// naivePass walks dirs and reads every file of every container cgroup with os.ReadFile.
func naivePass(b *testing.B, dirs []string, want int) int {
	files, containers := 0, 0
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if isContainerDir(e.Name()) {
					containers++
				}
				return nil
			}
			if !isContainerDir(filepath.Base(filepath.Dir(p))) {
				return nil
			}
			if _, err := os.ReadFile(p); err == nil { // write-only files fail, as they do for cAdvisor
				files++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if containers != want*len(dirs) {
		b.Fatalf("naive pass saw %d container cgroups, want %d", containers, want*len(dirs))
	}
	return files
}

func isContainerDir(name string) bool {
	_, ok := containerID([]byte(name))
	return ok && !strings.HasPrefix(name, "pod") // "pod<uid>" ends in 12 hex digits too
}

// measure runs pass in the benchmark loop and reports the custom metrics.
func measure(b *testing.B, pass func() (files int)) {
	var before, after syscall.Rusage
	files, n := 0, 0
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		files += pass()
		n++
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()) - time.Duration(before.Utime.Nano()+before.Stime.Nano())
	b.ReportMetric(float64(files)/float64(n), "files/op")
	b.ReportMetric(cpu.Seconds()*1000/float64(n), "cpu-ms/op")
	b.ReportMetric(float64(after.Maxrss)/1024, "maxrss-MiB") // Linux reports KiB
	b.ReportMetric(rssMiB(), "rss-MiB")
}

func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// kernelMemory is the kernel memory charged to the process's memory cgroup (v1
// memory.kmem.usage_in_bytes, v2 memory.stat "kernel"), -1 when unknown.
func kernelMemory() int64 {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var v []byte
		switch {
		case f[1] == "memory":
			v, err = os.ReadFile("/sys/fs/cgroup/memory" + f[2] + "/memory.kmem.usage_in_bytes")
		case f[0] == "0" && f[1] == "":
			var st []byte
			if st, err = os.ReadFile("/sys/fs/cgroup" + f[2] + "/memory.stat"); err == nil {
				for _, l := range strings.Split(string(st), "\n") {
					if k, val, _ := strings.Cut(l, " "); k == "kernel" {
						v = []byte(val)
					}
				}
			}
		default:
			continue
		}
		if n, perr := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64); err == nil && perr == nil {
			return n
		}
	}
	return -1
}

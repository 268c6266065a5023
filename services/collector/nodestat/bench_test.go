package nodestat

import (
	"os"
	"syscall"
	"testing"

	"github.com/prometheus/procfs"
)

// BenchmarkRead reads a production-like node tree (8 CPUs, PSI, 6 mounts with a fake statfs, 5
// interfaces) and this machine's /proc with a real statfs of /. Allocations are mostly the
// sample's own messages, which the caller publishes. The baseline is node_exporter's library,
// prometheus/procfs, reading the same /proc files (without statfs, uptime and boot id).
func BenchmarkRead(b *testing.B) {
	b.Run("testdata-node", func(b *testing.B) {
		r := New(Options{Root: "testdata/node", Mounts: []string{"/", "/var/lib/kubelet", "/var/lib/containerd", "/var/lib/kubelet/pods", "/mnt/data disk", "/srv"}})
		r.statfsFn = func(string, *syscall.Statfs_t) error { return nil }
		benchRead(b, r)
	})
	b.Run("host", func(b *testing.B) {
		skipWithoutProc(b)
		benchRead(b, New(Options{Root: "/", Mounts: []string{"/"}}))
	})
	b.Run("baseline-procfs-host", func(b *testing.B) {
		skipWithoutProc(b)
		fs, err := procfs.NewFS("/proc")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := readProcfs(fs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func readProcfs(fs procfs.FS) error {
	if _, err := fs.Stat(); err != nil {
		return err
	}
	if _, err := fs.Meminfo(); err != nil {
		return err
	}
	if _, err := fs.LoadAvg(); err != nil {
		return err
	}
	if _, err := fs.NetDev(); err != nil {
		return err
	}
	for _, r := range []string{"cpu", "memory", "io"} {
		if _, err := fs.PSIStatsForResource(r); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	_, err := procfs.GetProcMounts(1)
	return err
}

func skipWithoutProc(b *testing.B) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		b.Skip("no /proc")
	}
}

func benchRead(b *testing.B, r *Reader) {
	b.ReportAllocs()
	for b.Loop() {
		if _, st, err := r.Read(); err != nil {
			b.Fatalf("%+v: %v", st, err)
		}
	}
}

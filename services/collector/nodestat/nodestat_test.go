package nodestat

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// fakeStatfs answers statfs for the mount points in table (paths relative to root): the numbers a
// testdata tree's own filesystem would give are not fixed.
func fakeStatfs(root string, table map[string]syscall.Statfs_t) func(string, *syscall.Statfs_t) error {
	return func(path string, st *syscall.Statfs_t) error {
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(path, root), "/")
		v, ok := table[rel]
		if !ok {
			return syscall.ENOENT
		}
		*st = v
		return nil
	}
}

func sfs(bsize int64, blocks, bfree, bavail, files, ffree uint64) syscall.Statfs_t {
	return syscall.Statfs_t{Bsize: bsize, Blocks: blocks, Bfree: bfree, Bavail: bavail, Files: files, Ffree: ffree}
}

func fsStats(point, device, fstype string, s syscall.Statfs_t) *nwv1.FilesystemStats {
	b := uint64(s.Bsize)
	return &nwv1.FilesystemStats{
		Mountpoint: point, Device: device, Fstype: fstype,
		SizeBytes: s.Blocks * b, FreeBytes: s.Bfree * b, AvailBytes: s.Bavail * b, Files: s.Files, FilesFree: s.Ffree,
	}
}

func netStats(name string, v ...uint64) *nwv1.NetworkStats {
	return &nwv1.NetworkStats{
		Interface: name, RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
		TxBytes: v[4], TxPackets: v[5], TxErrors: v[6], TxDropped: v[7],
	}
}

func psi(avg10, avg60, avg300 float64, total uint64) *nwv1.PressureLine {
	return &nwv1.PressureLine{Avg10: avg10, Avg60: avg60, Avg300: avg300, TotalUsec: total}
}

const kB = 1024

var (
	rootFS    = sfs(4096, 65816576, 60000000, 56000000, 16777216, 16000000)
	kubeletFS = sfs(4096, 26214400, 20000000, 20000000, 13107200, 13000000)
	ctrdFS    = sfs(4096, 52428800, 30000000, 29000000, 3276800, 3000000)
	dataFS    = sfs(1024, 1000, 500, 400, 256, 100)
	shmFS     = sfs(4096, 6171021, 6171021, 6171021, 6171021, 6171020)
	cgroupFS  = sfs(4096, 0, 0, 0, 0, 0)
)

func TestRead(t *testing.T) {
	tests := []struct {
		name      string
		root      string
		opts      Options
		statfs    map[string]syscall.Statfs_t
		want      *nwv1.NodeSample
		wantStats Stats
	}{
		{
			name:   "this VM (files copied from /proc)",
			root:   "testdata/vm",
			opts:   Options{Mounts: []string{"/", "/dev/shm", "/sys/fs/cgroup/memory"}},
			statfs: map[string]syscall.Statfs_t{"/": rootFS, "/dev/shm": shmFS, "/sys/fs/cgroup/memory": cgroupFS},
			want: &nwv1.NodeSample{
				BootId:        "1698d861-ff76-48b5-a8e7-907476029275",
				UptimeSeconds: 3183.96,
				Cpu: &nwv1.CPUStats{
					UserSeconds: 2091.23, SystemSeconds: 501.08, IdleSeconds: 3718.82, IowaitSeconds: 18.52,
					SoftirqSeconds: 5.31, StealSeconds: 1.8, Cores: 2,
				},
				Load: &nwv1.LoadAverage{Load1: 1.59, Load5: 1.96, Load15: 1.42},
				Memory: &nwv1.MemoryStats{
					TotalBytes: 24684084 * kB, AvailableBytes: 24196100 * kB, FreeBytes: 22978012 * kB,
					CachedBytes: 1147412 * kB, BuffersBytes: 28048 * kB,
				},
				Pressure: &nwv1.PressureStats{
					CpuSome:    psi(0.25, 20.97, 24.30, 827052527),
					MemorySome: psi(0, 0, 0, 0), MemoryFull: psi(0, 0, 0, 0),
					IoSome: psi(0, 0, 0.11, 20762031), IoFull: psi(0, 0, 0.04, 11699750),
				},
				Filesystems: []*nwv1.FilesystemStats{
					fsStats("/", "/dev/vda", "ext4", rootFS),
					fsStats("/dev/shm", "tmpfs", "tmpfs", shmFS), // the later of two stacked mounts
					fsStats("/sys/fs/cgroup/memory", "cgroup", "cgroup", cgroupFS),
				},
				Networks: []*nwv1.NetworkStats{
					netStats("lo", 40676365, 155692, 0, 0, 40676365, 155692, 0, 0),
					netStats("ifb0", 0, 0, 0, 0, 0, 0, 0, 0),
					netStats("ifb1", 0, 0, 0, 0, 0, 0, 0, 0),
					netStats("eth0", 540106198, 33320, 0, 0, 2792204, 25664, 0, 0),
				},
			},
		},
		{
			name: "kubernetes node",
			root: "testdata/node",
			opts: Options{
				Mounts:            []string{"/", "/var/lib/kubelet", "/var/lib/containerd", "var/lib/kubelet/pods/", "/mnt/data disk", "/srv"},
				ExcludeInterfaces: regexp.MustCompile(`^(veth|cali)`),
			},
			statfs: map[string]syscall.Statfs_t{
				"/": rootFS, "/var/lib/kubelet": kubeletFS, "/var/lib/containerd": ctrdFS,
				"/var/lib/kubelet/pods": kubeletFS, "/mnt/data disk": dataFS, "/srv": rootFS,
			},
			want: &nwv1.NodeSample{
				BootId:        "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b",
				UptimeSeconds: 8213412.55,
				Cpu: &nwv1.CPUStats{
					UserSeconds: 849312.05, NiceSeconds: 128.34, SystemSeconds: 218771.43, IdleSeconds: 13918745.51,
					IowaitSeconds: 5120.33, SoftirqSeconds: 13877.21, StealSeconds: 402.11, Cores: 8,
				},
				Load: &nwv1.LoadAverage{Load1: 2.31, Load5: 1.87, Load15: 1.62},
				Memory: &nwv1.MemoryStats{
					TotalBytes: 32882112 * kB, AvailableBytes: 19377420 * kB, FreeBytes: 1935124 * kB,
					CachedBytes: 15882080 * kB, BuffersBytes: 707896 * kB,
					SwapTotalBytes: 2097148 * kB, SwapFreeBytes: 2031612 * kB,
				},
				Pressure: &nwv1.PressureStats{
					CpuSome:    psi(3.42, 2.17, 1.05, 9381727441),
					MemorySome: psi(0.12, 0.31, 0.09, 112233445), MemoryFull: psi(0.05, 0.14, 0.03, 55112233),
					IoSome: psi(1.50, 0.98, 0.70, 2838475612), IoFull: psi(1.21, 0.77, 0.55, 2140938871),
				},
				Filesystems: []*nwv1.FilesystemStats{
					fsStats("/", "/dev/sda1", "ext4", rootFS),
					fsStats("/var/lib/kubelet", "/dev/sdb1", "xfs", kubeletFS),
					fsStats("/var/lib/containerd", "/dev/sde1", "ext4", ctrdFS), // stacked: the later
					fsStats("/var/lib/kubelet/pods", "/dev/sdb1", "xfs", kubeletFS),
					fsStats("/mnt/data disk", "/dev/sdd1", "ext4", dataFS),
					fsStats("/srv", "/dev/sda1", "ext4", rootFS),
				},
				Networks: []*nwv1.NetworkStats{
					netStats("lo", 9188377210, 41273661, 0, 0, 9188377210, 41273661, 0, 0),
					netStats("ens4", 412873519873, 301276544, 0, 12, 98123761872, 187765123, 0, 0),
					netStats("cni0", 883711, 8813, 3, 1, 9981221, 9001, 2, 4),
				},
			},
		},
		{
			name:   "old kernel: no PSI, no MemAvailable, 8 cpu fields, /proc/mounts only",
			root:   "testdata/old",
			opts:   Options{Mounts: []string{"/", "/boot"}},
			statfs: map[string]syscall.Statfs_t{"/": rootFS, "/boot": dataFS},
			want: &nwv1.NodeSample{
				BootId:        "3b8e7c1a-5d2f-4e6a-9c0b-1a2b3c4d5e6f",
				UptimeSeconds: 1087212.05,
				Cpu: &nwv1.CPUStats{
					UserSeconds: 22.55, NiceSeconds: 0.34, SystemSeconds: 22.90, IdleSeconds: 226255.63,
					IowaitSeconds: 62.90, IrqSeconds: 1.27, SoftirqSeconds: 4.56, Cores: 2,
				},
				Load: &nwv1.LoadAverage{Load1: 0, Load5: 0.01, Load15: 0.05},
				Memory: &nwv1.MemoryStats{
					TotalBytes: 4046012 * kB, FreeBytes: 211180 * kB, CachedBytes: 2918960 * kB, BuffersBytes: 190096 * kB,
					SwapTotalBytes: 4194300 * kB, SwapFreeBytes: 4194300 * kB,
				},
				Filesystems: []*nwv1.FilesystemStats{
					fsStats("/", "/dev/mapper/vg-root", "ext4", rootFS), // over the initial rootfs
					fsStats("/boot", "/dev/sda1", "ext4", dataFS),
				},
				Networks: []*nwv1.NetworkStats{
					netStats("lo", 1908402, 13104, 0, 0, 1908402, 13104, 0, 0),
					netStats("eth0", 4294967296, 2977411, 5, 7, 283641711, 1958022, 1, 2),
				},
			},
		},
		{
			name:   "malformed files: counted, their parts empty",
			root:   "testdata/malformed",
			opts:   Options{Mounts: []string{"/"}},
			statfs: map[string]syscall.Statfs_t{"/": rootFS},
			want: &nwv1.NodeSample{
				Pressure:    &nwv1.PressureStats{MemorySome: psi(0.1, 0.2, 0.3, 40), MemoryFull: psi(0, 0, 0, 0)},
				Filesystems: []*nwv1.FilesystemStats{fsStats("/", "", "", rootFS)},
			},
			// stat, loadavg, meminfo, pressure/cpu, net/dev, uptime, boot_id, self/mountinfo
			wantStats: Stats{ParseErrors: 8},
		},
		{
			name:   "empty root: read errors, no PSI, statfs still asked",
			root:   "testdata/empty",
			opts:   Options{Mounts: []string{"/", "/missing"}},
			statfs: map[string]syscall.Statfs_t{"/": rootFS},
			want:   &nwv1.NodeSample{Filesystems: []*nwv1.FilesystemStats{fsStats("/", "", "", rootFS)}},
			// stat, loadavg, meminfo, uptime, boot_id, net/dev, the mount tables, statfs /missing
			wantStats: Stats{ReadErrors: 8},
		},
		{
			name: "no mounts configured: no mount table read",
			root: "testdata/old",
			opts: Options{},
			want: nil, // checked below: no filesystems
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Root = tt.root
			r := New(opts)
			r.statfsFn = fakeStatfs(tt.root, tt.statfs)
			// Twice: the second read reuses buffers, interned names and the boot id.
			for i := 0; i < 2; i++ {
				got, st, err := r.Read()
				if st != tt.wantStats {
					t.Errorf("read %d: stats %+v, want %+v (error: %v)", i, st, tt.wantStats, err)
				}
				if (err != nil) != (st != Stats{}) {
					t.Errorf("read %d: error %v with stats %+v; want an error exactly when something is counted", i, err, st)
				}
				if st.ParseErrors > 0 && !errors.Is(err, errMalformed) {
					t.Errorf("read %d: error %v, want it to wrap errMalformed", i, err)
				}
				if tt.want == nil {
					if len(got.GetFilesystems()) != 0 || got.GetCpu() == nil {
						t.Errorf("read %d: %v, want a sample without filesystems", i, got)
					}
					continue
				}
				if !proto.Equal(got, tt.want) {
					t.Errorf("read %d:\ngot:\n%s\nwant:\n%s", i, prototext.Format(got), prototext.Format(tt.want))
				}
			}
		})
	}
}

func TestReadErrorsNamePaths(t *testing.T) {
	r := New(Options{Root: "testdata/malformed"})
	_, _, err := r.Read()
	for _, f := range []string{"stat", "loadavg", "meminfo", "pressure/cpu", "net/dev", "uptime", "sys/kernel/random/boot_id"} {
		want := "parse " + filepath.Join("testdata/malformed/proc", f) + ": malformed"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

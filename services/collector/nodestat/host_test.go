package nodestat

import (
	"bytes"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The real /proc of the machine the test runs on, checked against the kernel's other answers.
func TestReadHost(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	r := New(Options{Root: "/", Mounts: []string{"/"}})
	s, st, err := r.Read()
	if err != nil || st != (Stats{}) {
		t.Fatalf("Read: stats %+v, error %v", st, err)
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	if want := si.Totalram * uint64(si.Unit); s.GetMemory().GetTotalBytes() != want {
		t.Errorf("MemTotal %d bytes, sysinfo says %d", s.GetMemory().GetTotalBytes(), want)
	}
	if up := s.GetUptimeSeconds(); math.Abs(up-float64(si.Uptime)) > 5 {
		t.Errorf("uptime %v s, sysinfo says %d", up, si.Uptime)
	}
	statFile, _ := os.ReadFile("/proc/stat")
	cores := 0
	for _, l := range strings.Split(string(statFile), "\n") {
		if strings.HasPrefix(l, "cpu") && !strings.HasPrefix(l, "cpu ") {
			cores++
		}
	}
	if int(s.GetCpu().GetCores()) != cores || s.GetCpu().GetIdleSeconds() <= 0 {
		t.Errorf("cpu %v, want %d cores and idle time", s.GetCpu(), cores)
	}
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if s.GetBootId() != string(bytes.TrimSpace(bootID)) || len(s.GetBootId()) != 36 {
		t.Errorf("boot id %q, file says %q", s.GetBootId(), bootID)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/", &fs); err != nil {
		t.Fatal(err)
	}
	if len(s.GetFilesystems()) != 1 {
		t.Fatalf("filesystems %v, want /", s.GetFilesystems())
	}
	root := s.GetFilesystems()[0]
	if root.GetSizeBytes() != fs.Blocks*uint64(fs.Bsize) || root.GetFiles() != fs.Files || root.GetDevice() == "" || root.GetFstype() == "" {
		t.Errorf("filesystem / = %v; statfs says %d blocks of %d, %d files", root, fs.Blocks, fs.Bsize, fs.Files)
	}
	if root.GetAvailBytes() > root.GetFreeBytes() || root.GetFreeBytes() > root.GetSizeBytes() {
		t.Errorf("filesystem / = %v: avail <= free <= size does not hold", root)
	}
	lo := false
	for _, n := range s.GetNetworks() {
		lo = lo || n.GetInterface() == "lo"
	}
	if !lo {
		t.Errorf("networks %v, want lo kept", s.GetNetworks())
	}
	if _, err := os.Stat("/proc/pressure/cpu"); err == nil && s.GetPressure().GetCpuSome() == nil {
		t.Errorf("/proc/pressure/cpu exists but the sample has no cpu pressure")
	}
}

// A hung statfs (a dead NFS server) is given up after the timeout, then the mount is skipped until
// the call returns, and asked again after.
func TestStatfsTimeoutAndStuck(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	r := New(Options{Root: "testdata/node", Mounts: []string{"/", "/var/lib/kubelet"}, StatfsTimeout: 50 * time.Millisecond})
	r.statfsFn = func(path string, st *syscall.Statfs_t) error {
		if strings.HasSuffix(path, "/var/lib/kubelet") {
			calls.Add(1)
			<-release
		}
		*st = rootFS
		return nil
	}
	_, st, err := r.Read()
	if st.ReadErrors != 1 || st.StuckMounts != 0 || err == nil || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("first read: stats %+v, error %v; want one statfs timeout", st, err)
	}
	s, st, err := r.Read()
	if st.ReadErrors != 0 || st.StuckMounts != 1 || err != nil || len(s.GetFilesystems()) != 1 {
		t.Fatalf("second read: stats %+v, error %v, %d filesystems; want the stuck mount skipped and / read", st, err, len(s.GetFilesystems()))
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, st, err = r.Read()
		if st.StuckMounts == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mount still stuck 10s after its statfs returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || len(s.GetFilesystems()) != 2 {
		t.Fatalf("after release: %v, %v; want both filesystems", s.GetFilesystems(), err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("statfs called %d times on the hung mount, want 2 (none while it hung)", n)
	}
}

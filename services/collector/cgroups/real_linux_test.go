//go:build linux

package cgroups

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// inCgroup is a process of the test's own, moved into a container's cgroups.
type inCgroup struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startInCgroup starts sh running script and moves it into the container cgroup rel of every
// hierarchy before the script gets past its first "read". newNet gives it its own network
// namespace, as a pod's sandbox has.
func startInCgroup(t *testing.T, tree *realTree, rel, script string, newNet bool) *inCgroup {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if newNet {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &inCgroup{cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	for _, m := range tree.mounts {
		if err := os.WriteFile(m+rel+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatalf("move pid %d into %s: %v", cmd.Process.Pid, m+rel, err)
		}
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *inCgroup) waitLine(t *testing.T, want string) {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok || l != want {
			t.Fatalf("process said %q (open %v), want %q", l, ok, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("process did not say %q within 30 s", want)
	}
}

// TestRealCgroups makes kubelet-layout cgroups in the real v1 hierarchies, runs a process of its
// own in one container and an idle one in another, and reads them back.
func TestRealCgroups(t *testing.T) {
	mounts := realV1Mounts(t)
	tree, err := makeRealTree(t, mounts, 2, 2) // pod 0 guaranteed, pod 1 burstable
	t.Cleanup(func() {
		if err := tree.remove(); err != nil {
			t.Errorf("remove test cgroups: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	busyCt, idleCt := tree.containers[0], tree.containers[2]
	tree.write(t, "cpu", busyCt, "cpu.cfs_quota_us", "50000")
	tree.write(t, "memory", busyCt, "memory.limit_in_bytes", "67108864")

	// A single-threaded shell, so the pids controller counts exactly one task.
	busy := startInCgroup(t, tree, busyCt,
		`read x; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done; read y; exit 0`, true)
	idle := startInCgroup(t, tree, idleCt, `read x; echo ready; read y`, false)
	busy.waitLine(t, "done")
	idle.waitLine(t, "ready")

	c := New(Options{CgroupRoot: tree.top})
	t.Cleanup(func() { _ = c.Close() })
	got, pods, st, err := c.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if st.ParseErrors != 0 || st.ReadErrors != 0 || st.Vanished != 0 || st.FirstError != nil {
		t.Errorf("stats %+v", st)
	}
	byID := map[string]*nwv1.ContainerSample{}
	for _, s := range got {
		byID[s.Id] = s
	}
	if len(got) != 4 || len(byID) != 4 {
		t.Fatalf("found %d containers, want the 4 made: %v", len(got), ids(got))
	}
	for i, id := range tree.ids {
		s := byID[id]
		switch {
		case s == nil:
			t.Fatalf("container %s not found", id)
		case s.CgroupPath != tree.containers[i] || s.PodUid != tree.uids[i/2] || s.CgroupVersion != 1:
			t.Errorf("container %d: path %q pod %q version %d", i, s.CgroupPath, s.PodUid, s.CgroupVersion)
		case s.Cpu.Shares != 1024 || s.Cpu.PeriodUsec != 100000:
			t.Errorf("container %d: shares %d period %d, want the defaults", i, s.Cpu.Shares, s.Cpu.PeriodUsec)
		}
	}
	if q := []nwv1.QOSClass{byID[tree.ids[0]].QosClass, byID[tree.ids[2]].QosClass}; q[0] != guaranteed || q[1] != burstable {
		t.Errorf("QoS classes %v, want guaranteed, burstable", q)
	}
	b, i := byID[tree.ids[0]], byID[tree.ids[2]]
	if b.Cpu.UsageSeconds <= 0 || b.Cpu.UserSeconds+b.Cpu.SystemSeconds <= 0 {
		t.Errorf("busy container's CPU: %v", b.Cpu)
	}
	if b.Pids != 1 || i.Pids != 1 || byID[tree.ids[1]].Pids != 0 {
		t.Errorf("pids: busy %d, idle %d, empty %d; want 1, 1, 0", b.Pids, i.Pids, byID[tree.ids[1]].Pids)
	}
	if b.Cpu.QuotaUsec != 50000 || b.Memory.LimitBytes != 64<<20 {
		t.Errorf("busy container's limits: quota %d memory %d", b.Cpu.QuotaUsec, b.Memory.LimitBytes)
	}
	if i.Cpu.QuotaUsec != -1 || i.Memory.LimitBytes != 0 {
		t.Errorf("unlimited container's limits: quota %d memory %d", i.Cpu.QuotaUsec, i.Memory.LimitBytes)
	}
	// The busy process has a namespace of its own; the idle one shares the host's, like a
	// hostNetwork pod, and is left out.
	if len(pods) != 1 || pods[0].PodUid != tree.uids[0] {
		t.Errorf("pods %v, want only %s", pods, tree.uids[0])
	} else if want := netDevNames(t, busy.cmd.Process.Pid); !slices.Equal(ifaceNames(pods[0]), want) {
		t.Errorf("pod interfaces %v, want %v (from its /proc/<pid>/net/dev, without lo)", ifaceNames(pods[0]), want)
	}

	// The busy process ends; its usage stays, its pid goes.
	usage := b.Cpu.UsageSeconds
	_ = busy.stdin.Close()
	if err := busy.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	got, _, st, err = c.Collect()
	if err != nil || st.Containers != 4 {
		t.Fatalf("second pass: %d containers, %v", st.Containers, err)
	}
	for _, s := range got {
		if s.Id == tree.ids[0] && (s.Pids != 0 || s.Cpu.UsageSeconds < usage) {
			t.Errorf("after exit: pids %d usage %v (was %v)", s.Pids, s.Cpu.UsageSeconds, usage)
		}
	}
}

// netDevNames reads the interface names of pid's network namespace, without lo, plainly.
func netDevNames(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) != "lo" {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names
}

func ifaceNames(p *nwv1.PodNetwork) []string {
	var names []string
	for _, i := range p.Interfaces {
		names = append(names, i.Interface)
	}
	return names
}

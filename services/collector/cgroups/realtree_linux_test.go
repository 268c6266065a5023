//go:build linux

package cgroups

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// realV1Mounts returns the cgroup v1 hierarchies a test can make kubelet-layout cgroups in
// (cpu, cpuacct when mounted apart, memory, blkio, pids), or skips the test saying why not.
func realV1Mounts(tb testing.TB) []string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("making cgroups needs root")
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		tb.Skip("/sys/fs/cgroup is cgroup v2 (unified); these tests make cgroup v1 hierarchies' cgroups")
	}
	var mounts []string
	seen := map[string]bool{}
	for _, h := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
		p := "/sys/fs/cgroup/" + h
		if _, err := os.Stat(p + "/cgroup.procs"); err != nil {
			if h == "cpu" || h == "memory" {
				tb.Skipf("the cgroup v1 %s hierarchy is not mounted at %s", h, p)
			}
			continue
		}
		real, err := filepath.EvalSymlinks(p) // cpu and cpuacct may be one "cpu,cpuacct" mount
		if err != nil {
			tb.Fatal(err)
		}
		if !seen[real] {
			seen[real] = true
			mounts = append(mounts, real)
		}
	}
	return mounts
}

// realTree is a kubelet-layout tree of real cgroups under a test-unique top cgroup in every v1
// hierarchy: top/kubepods/{burstable,besteffort}/pod<uid>/<id> and top/kubepods/pod<uid>/<id>.
type realTree struct {
	top        string // the collector's CgroupRoot
	mounts     []string
	dirs       []string // made, parents first, relative to the mounts
	containers []string // container cgroups, relative
	uids       []string // pod uids, by pod index
	ids        []string // container ids, in the order of containers
	podCt      []string // each pod's first container
	procs      []*exec.Cmd
}

// makeRealTree makes pods pods of perPod containers each: pod i is guaranteed when i%3 == 0,
// burstable when 1 and best-effort when 2.
func makeRealTree(tb testing.TB, mounts []string, pods, perPod int) (*realTree, error) {
	tb.Helper()
	tok := make([]byte, 4)
	_, _ = rand.Read(tok)
	t := &realTree{top: fmt.Sprintf("/nwtest-%d-%x", os.Getpid(), tok), mounts: mounts}
	add := func(rel string) error {
		for _, m := range mounts {
			if err := os.Mkdir(m+rel, 0o755); err != nil {
				return fmt.Errorf("make cgroup: %w", err)
			}
		}
		t.dirs = append(t.dirs, rel)
		return nil
	}
	kp := t.top + "/kubepods"
	for _, d := range []string{t.top, kp, kp + "/burstable", kp + "/besteffort"} {
		if err := add(d); err != nil {
			return t, err
		}
	}
	for i := range pods {
		h := sha256.Sum256(fmt.Appendf(nil, "%x pod %d", tok, i))
		x := hex.EncodeToString(h[:16])
		uid := x[0:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8" + x[17:20] + "-" + x[20:32] // a v4 UUID
		t.uids = append(t.uids, uid)
		pod := kp + "/pod" + uid
		switch i % 3 {
		case 1:
			pod = kp + "/burstable/pod" + uid
		case 2:
			pod = kp + "/besteffort/pod" + uid
		}
		if err := add(pod); err != nil {
			return t, err
		}
		t.podCt = append(t.podCt, "")
		for j := range perPod {
			id := sha256.Sum256(fmt.Appendf(nil, "%x container %d %d", tok, i, j))
			ct := pod + "/" + hex.EncodeToString(id[:])
			if err := add(ct); err != nil {
				return t, err
			}
			t.containers = append(t.containers, ct)
			t.ids = append(t.ids, hex.EncodeToString(id[:]))
			if j == 0 {
				t.podCt[i] = ct
			}
		}
	}
	return t, nil
}

// populate puts a sleeping process with a network namespace of its own in the first container of
// every pod, as a pod's sandbox is.
func (t *realTree) populate() error {
	for _, ct := range t.podCt {
		cmd := exec.Command("sleep", "1000000")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if err := cmd.Start(); err != nil {
			return err
		}
		t.procs = append(t.procs, cmd)
		for _, m := range t.mounts {
			if err := os.WriteFile(m+ct+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove ends the processes and removes the tree, children first, waiting (with a deadline) for
// cgroups whose last process has just exited.
func (t *realTree) remove() error {
	var errs []error
	for _, p := range t.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	for i := len(t.dirs) - 1; i >= 0; i-- {
		for _, m := range t.mounts {
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := os.Remove(m + t.dirs[i])
				if err == nil || errors.Is(err, os.ErrNotExist) {
					break
				}
				if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
					errs = append(errs, err)
					break
				}
				time.Sleep(10 * time.Millisecond) // polling the condition above, bounded by deadline
			}
		}
	}
	return errors.Join(errs...)
}

// write writes a value into a file of a container's cgroup in the hierarchy named h.
func (t *realTree) write(tb testing.TB, h, rel, file, value string) {
	tb.Helper()
	p := "/sys/fs/cgroup/" + h + rel + "/" + file
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		tb.Fatalf("write %s: %v", p, err)
	}
}

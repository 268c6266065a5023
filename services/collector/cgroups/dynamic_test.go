package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// copyTree copies a testdata tree into a temporary directory the test may change.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func ids(samples []*nwv1.ContainerSample) []string {
	var out []string
	for _, s := range samples {
		out = append(out, s.Id[:12])
	}
	return out
}

// openFDs counts the process's open files, -1 where /proc/self/fd cannot tell.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// checkClosed checks that Close released every file the collector held.
func checkClosed(t *testing.T, c *Collector, before int) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.held != 0 {
		t.Errorf("after Close: %d files counted as held", c.held)
	}
	if after := openFDs(); after != before {
		t.Errorf("after Close: %d files open, %d before New", after, before)
	}
}

func mustCollect(t *testing.T, c *Collector) ([]*nwv1.ContainerSample, []*nwv1.PodNetwork, Stats) {
	t.Helper()
	got, pods, st, err := c.Collect()
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if st.FirstError != nil {
		t.Fatalf("Collect: unexpected error in stats: %v", st.FirstError)
	}
	return got, pods, st
}

// TestTreeChanges follows containers and pods coming and going, with inotify and with listing
// every directory on every pass.
func TestTreeChanges(t *testing.T) {
	for _, mode := range []string{"inotify", "listing"} {
		t.Run(mode, func(t *testing.T) {
			root := copyTree(t, "testdata/v2-cgroupfs")
			kp := filepath.Join(root, "sys/fs/cgroup/kubepods")
			fds := openFDs()
			c := New(Options{Root: root})
			if mode == "listing" {
				c.stopWatching()
			} else if c.w == nil {
				t.Skip("inotify is not available here")
			}
			// listed is what a pass should list: the changed directories with inotify, all without.
			listed := func(changed, all int) int {
				if mode == "inotify" {
					return changed
				}
				return all
			}
			got, _, st := mustCollect(t, c)
			if want := []string{"c1d2e3f4a5b6", "3b5d7f9a1c3e", "e0f1e2d3c4b5"}; !slices.Equal(ids(got), want) {
				t.Fatalf("pass 1: containers %v, want %v", ids(got), want)
			}
			held := st.HeldFiles

			_, _, st = mustCollect(t, c)
			if st.DirsListed != listed(0, 6) {
				t.Errorf("unchanged pass listed %d directories, want %d", st.DirsListed, listed(0, 6))
			}

			// A new container in an existing pod.
			burstPod := filepath.Join(kp, "burstable/pod8e7d6c5b-4a39-4281-b0fe-dcba98765432")
			src := filepath.Join(burstPod, "3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d")
			newCt := filepath.Join(burstPod, "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12")
			copyDir(t, src, newCt)
			got, _, st = mustCollect(t, c)
			if want := []string{"c1d2e3f4a5b6", "3b5d7f9a1c3e", "ab12ab12ab12", "e0f1e2d3c4b5"}; !slices.Equal(ids(got), want) {
				t.Fatalf("after a new container: %v, want %v", ids(got), want)
			}
			if st.DirsListed != listed(1, 6) {
				t.Errorf("new container: listed %d directories, want %d", st.DirsListed, listed(1, 6))
			}

			// A new guaranteed pod.
			newPod := filepath.Join(kp, "pod99999999-8888-4777-8666-555555555555")
			copyDir(t, src, filepath.Join(newPod, "cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34"))
			got, _, st = mustCollect(t, c)
			if want := []string{"c1d2e3f4a5b6", "3b5d7f9a1c3e", "ab12ab12ab12", "e0f1e2d3c4b5", "cd34cd34cd34"}; !slices.Equal(ids(got), want) {
				t.Fatalf("after a new pod: %v, want %v", ids(got), want)
			}
			if last := got[len(got)-1]; last.PodUid != "99999999-8888-4777-8666-555555555555" || last.QosClass != guaranteed {
				t.Errorf("new pod's container: pod %q qos %v", last.PodUid, last.QosClass)
			}
			if st.DirsListed != listed(2, 7) {
				t.Errorf("new pod: listed %d directories, want %d", st.DirsListed, listed(2, 7))
			}

			// A counter changes in place: the held file is read again.
			if err := os.WriteFile(filepath.Join(src, "cpu.stat"), []byte("usage_usec 78000000\nuser_usec 1\nsystem_usec 2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			got, _, _ = mustCollect(t, c)
			if u := got[1].Cpu.UsageSeconds; u != 78 {
				t.Errorf("usage after rewrite = %v, want 78", u)
			}

			// A container and a pod go away.
			if err := os.RemoveAll(newCt); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(newPod); err != nil {
				t.Fatal(err)
			}
			got, _, st = mustCollect(t, c)
			if want := []string{"c1d2e3f4a5b6", "3b5d7f9a1c3e", "e0f1e2d3c4b5"}; !slices.Equal(ids(got), want) {
				t.Fatalf("after removals: %v, want %v", ids(got), want)
			}
			if st.HeldFiles != held || st.Vanished != 0 {
				t.Errorf("after removals: held %d files (want %d as at first), vanished %d", st.HeldFiles, held, st.Vanished)
			}

			// kubelet's whole tree goes, and comes back.
			moved := kp + ".away"
			if err := os.Rename(kp, moved); err != nil {
				t.Fatal(err)
			}
			got, _, st = mustCollect(t, c)
			if len(got) != 0 || st.HeldFiles != 0 {
				t.Fatalf("without kubepods: %d containers, %d files held", len(got), st.HeldFiles)
			}
			if err := os.Rename(moved, kp); err != nil {
				t.Fatal(err)
			}
			got, _, _ = mustCollect(t, c)
			if len(got) != 3 {
				t.Fatalf("kubepods back: %d containers, want 3", len(got))
			}
			checkClosed(t, c, fds)
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVanishMidRead removes cgroups between discovery and reading, as a container that exits
// does.
func TestVanishMidRead(t *testing.T) {
	tests := []struct {
		name       string
		tree       string
		remove     string // relative to the tree's sys/fs/cgroup
		containers int    // reported this pass
		vanished   int
		next       int // containers reported by the next pass
		nextGone   int // and vanished then
	}{{
		name: "v2 container", tree: "testdata/v2-cgroupfs",
		remove:     "kubepods/burstable/pod8e7d6c5b-4a39-4281-b0fe-dcba98765432/3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d",
		containers: 2, vanished: 1, next: 2, nextGone: 0,
	}, {
		name: "v2 pod", tree: "testdata/v2-systemd",
		remove:     "kubepods.slice/kubepods-burstable.slice",
		containers: 2, vanished: 2, next: 2, nextGone: 0,
	}, {
		name: "v1 primary hierarchy", tree: "testdata/v1-cgroupfs",
		remove:     "memory/kubepods/pod13579bdf-2468-4ace-9bdf-13579bdf2468",
		containers: 2, vanished: 1, next: 2, nextGone: 0,
	}, {
		// Only one hierarchy lacks it (runc makes and removes them one by one): skipped while
		// that lasts, not forgotten.
		name: "v1 other hierarchy", tree: "testdata/v1-cgroupfs",
		remove:     "blkio/kubepods/pod13579bdf-2468-4ace-9bdf-13579bdf2468",
		containers: 2, vanished: 1, next: 2, nextGone: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t, tt.tree)
			c := New(Options{Root: root})
			t.Cleanup(func() { _ = c.Close() })
			c.afterDiscover = func() {
				c.afterDiscover = nil
				if err := os.RemoveAll(filepath.Join(root, "sys/fs/cgroup", tt.remove)); err != nil {
					t.Fatal(err)
				}
			}
			got, _, st := mustCollect(t, c)
			if len(got) != tt.containers || st.Vanished != tt.vanished || st.Containers != tt.containers {
				t.Errorf("pass 1: %d containers (stats %d), %d vanished; want %d, %d", len(got), st.Containers, st.Vanished, tt.containers, tt.vanished)
			}
			got, _, st = mustCollect(t, c)
			if len(got) != tt.next || st.Vanished != tt.nextGone {
				t.Errorf("pass 2: %d containers, %d vanished; want %d, %d", len(got), st.Vanished, tt.next, tt.nextGone)
			}
		})
	}
}

// TestHostNetworkPodLeftOut: a pod whose process shares the host's network namespace would
// report the node's interfaces as its own.
func TestHostNetworkPodLeftOut(t *testing.T) {
	root := copyTree(t, "testdata/v2-systemd")
	// procfs gives each network namespace its own /proc/<pid>/net files: the pause process of
	// the burstable pod shares pid 1's, so its net/dev is the same inode.
	dev := func(pid string) string { return filepath.Join(root, "proc", pid, "net", "dev") }
	if err := os.MkdirAll(filepath.Dir(dev("1")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dev("4711"), dev("1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(dev("1"), dev("4711")); err != nil {
		t.Fatal(err)
	}
	c := New(Options{Root: root})
	t.Cleanup(func() { _ = c.Close() })
	_, pods, _ := mustCollect(t, c)
	if diff := cmp.Diff(v2SystemdPods[1:], pods, protocmp.Transform()); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
}

// TestNoHeldFiles: with nothing held open, every pass opens and closes its files and the samples
// are the same.
func TestNoHeldFiles(t *testing.T) {
	for _, tree := range []string{"testdata/v2-systemd", "testdata/v2-cgroupfs", "testdata/v1-cgroupfs", "testdata/malformed"} {
		held, open := New(Options{Root: tree}), New(Options{Root: tree, MaxHeldFiles: -1})
		for pass := range 2 {
			want, wantPods, _, err1 := held.Collect()
			got, gotPods, st, err2 := open.Collect()
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("%s pass %d: containers differ (-held +open):\n%s", tree, pass, diff)
			}
			if diff := cmp.Diff(wantPods, gotPods, protocmp.Transform()); diff != "" {
				t.Errorf("%s pass %d: pods differ (-held +open):\n%s", tree, pass, diff)
			}
			if st.HeldFiles != 0 {
				t.Errorf("%s: %d files held with MaxHeldFiles -1", tree, st.HeldFiles)
			}
		}
		_ = held.Close()
		_ = open.Close()
	}
}

// TestGeneratedTree checks the benchmark's generated tree reads as the testdata container it
// copies, so the benchmark measures real work.
func TestGeneratedTree(t *testing.T) {
	root := t.TempDir()
	if err := genV2Tree(root, 10); err != nil {
		t.Fatal(err)
	}
	c := New(Options{Root: root})
	t.Cleanup(func() { _ = c.Close() })
	got, pods, st := mustCollect(t, c)
	if st.Containers != 10 || len(pods) != 3 {
		t.Fatalf("%d containers in %d pods, want 10 in 3", st.Containers, len(pods))
	}
	want := v2SystemdWant[2] // the burstable app container, whose files the generator copies
	for _, s := range got {
		if diff := cmp.Diff(want, s, protocmp.Transform(), protocmp.IgnoreFields(&nwv1.ContainerSample{}, "id", "pod_uid", "qos_class", "cgroup_path")); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.CgroupPath, diff)
		}
	}
}

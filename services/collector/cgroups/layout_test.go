package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// mkTree makes empty files (and their directories) under a temporary root.
func mkTree(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetect(t *testing.T) {
	const cg = "sys/fs/cgroup/"
	tests := []struct {
		name       string
		files      []string
		version    int
		cgroupRoot string
		wantVer    int
		wantMount  string // primary mount, relative to the root
		wantBase   string
		wantErr    error
	}{{
		name:    "v2 unified",
		files:   []string{cg + "cgroup.controllers", cg + "kubepods.slice/cgroup.procs"},
		wantVer: 2, wantMount: cg[:len(cg)-1], wantBase: "/kubepods.slice",
	}, {
		name: "hybrid: kubepods in v1, and mirrored by systemd into unified",
		files: []string{cg + "unified/cgroup.controllers", cg + "unified/kubepods.slice/cgroup.procs",
			cg + "memory/cgroup.procs", cg + "memory/kubepods.slice/cgroup.procs", cg + "cpu,cpuacct/cgroup.procs"},
		wantVer: 1, wantMount: cg + "memory", wantBase: "/kubepods.slice",
	}, {
		name: "hybrid: kubepods only in unified",
		files: []string{cg + "unified/cgroup.controllers", cg + "unified/kubepods/cgroup.procs",
			cg + "memory/cgroup.procs", cg + "cpu/cgroup.procs"},
		wantVer: 2, wantMount: cg + "unified", wantBase: "/kubepods",
	}, {
		name:    "v1 before kubelet made its cgroups",
		files:   []string{cg + "memory/cgroup.procs", cg + "cpu/cgroup.procs", cg + "unified/cgroup.controllers"},
		wantVer: 1, wantMount: cg + "memory",
	}, {
		name:    "v1 without memory: cpu is listed",
		files:   []string{cg + "cpu/cgroup.procs", cg + "cpu/kubepods/cgroup.procs", cg + "pids/cgroup.procs"},
		wantVer: 1, wantMount: cg + "cpu", wantBase: "/kubepods",
	}, {
		name:       "systemd cgroup root",
		files:      []string{cg + "cgroup.controllers", cg + "kubelet.slice/kubelet-kubepods.slice/cgroup.procs"},
		cgroupRoot: "/kubelet.slice",
		wantVer:    2, wantMount: cg[:len(cg)-1], wantBase: "/kubelet.slice/kubelet-kubepods.slice",
	}, {
		name:       "cgroupfs cgroup root",
		files:      []string{cg + "memory/cgroup.procs", cg + "memory/custom/kubepods/cgroup.procs"},
		cgroupRoot: "custom/",
		wantVer:    1, wantMount: cg + "memory", wantBase: "/custom/kubepods",
	}, {
		name:    "forced v1 on a v2 host",
		files:   []string{cg + "cgroup.controllers"},
		version: 1, wantErr: ErrNoCgroups,
	}, {
		name:    "nothing mounted",
		files:   []string{"proc/1/cgroup"},
		wantErr: ErrNoCgroups,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := mkTree(t, tt.files...)
			r := newReader()
			lay, err := detect(&r, root+"/sys/fs/cgroup", tt.version, tt.cgroupRoot)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			mount := lay.mounts[lay.primary]
			if lay.version != tt.wantVer || mount != filepath.Join(root, tt.wantMount) {
				t.Errorf("version %d at %s, want %d at %s", lay.version, mount, tt.wantVer, tt.wantMount)
			}
			if base := findKubepods(&r, mount, tt.cgroupRoot); base != tt.wantBase {
				t.Errorf("kubepods at %q, want %q", base, tt.wantBase)
			}
		})
	}
}

// TestSystemdCgroupRoot reads a tree made by kubelet --cgroup-root=/kubelet with the systemd
// driver, whose cgroups all carry the "kubelet-" prefix.
func TestSystemdCgroupRoot(t *testing.T) {
	root := mkTree(t, "sys/fs/cgroup/cgroup.controllers")
	src := "testdata/v2-systemd/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b1c5e2a_3f4d_4c1e_9a7b_2d8e0f1a3c5b.slice/cri-containerd-9c2b7e5d3a1f4e6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e.scope"
	dst := filepath.Join(root, "sys/fs/cgroup/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod6b1c5e2a_3f4d_4c1e_9a7b_2d8e0f1a3c5b.slice/cri-containerd-9c2b7e5d3a1f4e6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e.scope")
	copyDir(t, src, dst)
	c := New(Options{Root: root, CgroupRoot: "/kubelet.slice"})
	t.Cleanup(func() { _ = c.Close() })
	got, _, _ := mustCollect(t, c)
	if len(got) != 1 || got[0].PodUid != "6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b" || got[0].QosClass != burstable || got[0].Cpu.UsageSeconds != 183.456789 {
		t.Errorf("got %v", got)
	}
}

// TestPodProcessAppears: a pod found without processes is looked at again a few passes later.
func TestPodProcessAppears(t *testing.T) {
	root := copyTree(t, "testdata/v2-cgroupfs")
	pod := "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b" // best effort, empty cgroup.procs
	c := New(Options{Root: root})
	t.Cleanup(func() { _ = c.Close() })
	has := func() bool {
		_, pods, _ := mustCollect(t, c)
		for _, p := range pods {
			if p.PodUid == pod {
				return true
			}
		}
		return false
	}
	if has() {
		t.Fatal("pod without processes has network counters")
	}
	procs := filepath.Join(root, "sys/fs/cgroup/kubepods/besteffort/pod"+pod+"/c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2/cgroup.procs")
	if err := os.WriteFile(procs, []byte("7200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dev, _ := os.ReadFile(filepath.Join(root, "proc/7100/net/dev"))
	if err := os.MkdirAll(filepath.Join(root, "proc/7200/net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/7200/net/dev"), dev, 0o644); err != nil {
		t.Fatal(err)
	}
	for pass := 1; !has(); pass++ {
		if pass > retryProcs {
			t.Fatalf("pod's process not found within %d passes", retryProcs)
		}
	}
}

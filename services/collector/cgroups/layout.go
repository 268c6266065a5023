package cgroups

import (
	"errors"
	"path"
	"strings"
)

// ErrNoCgroups is returned by Collect when no cgroup file system is mounted under the root
// (a laptop, another OS). It is not worth more than one log line.
var ErrNoCgroups = errors.New("no cgroup file system found")

// The cgroup v1 hierarchies a container's files come from.
const (
	hCPU = iota
	hCPUAcct
	hMemory
	hBlkio
	hPids
	nHier
)

// layout is where a node's container cgroups live and which files make a sample.
type layout struct {
	version int
	mounts  []string // absolute hierarchy mounts; v2: one; v1: indexed by hCPU..., "" when absent
	primary int      // the hierarchy that is listed and watched, and whose cgroup.procs is read
	base    string   // the kubepods cgroup relative to the mounts ("/kubepods.slice"); "" until found
	files   []fileSpec
	limits  []fileSpec
}

// fileSpec is one file of a container cgroup and what to do with its contents.
type fileSpec struct {
	hier  int
	name  string
	parse func(a *acc, b []byte) error
}

// detect finds the cgroup layout under cg (Root + /sys/fs/cgroup). Pure cgroup v2 has
// cgroup.controllers at the top. Otherwise the v1 hierarchies hold the containers, unless the
// kubepods cgroup exists only in the unified hierarchy of a hybrid setup. systemd mirrors its
// slices into that hierarchy in hybrid mode, so v1 is checked first.
func detect(r *reader, cg string, version int, cgroupRoot string) (*layout, error) {
	v2 := func(mount string) *layout {
		return &layout{version: 2, mounts: []string{mount}, files: v2Files, limits: v2Limits}
	}
	if version == 2 || (version == 0 && exists(r, cg, "/cgroup.controllers")) {
		switch {
		case exists(r, cg, "/cgroup.controllers"):
			return v2(cg), nil
		case exists(r, cg, "/unified/cgroup.controllers"):
			return v2(cg + "/unified"), nil
		}
		return nil, ErrNoCgroups
	}
	v1 := detectV1(r, cg)
	if version == 1 {
		if v1 == nil {
			return nil, ErrNoCgroups
		}
		return v1, nil
	}
	if v1 != nil && findKubepods(r, v1.mounts[v1.primary], cgroupRoot) != "" {
		return v1, nil
	}
	if exists(r, cg, "/unified/cgroup.controllers") {
		if u := v2(cg + "/unified"); findKubepods(r, u.mounts[0], cgroupRoot) != "" || v1 == nil {
			return u, nil
		}
	}
	if v1 == nil {
		return nil, ErrNoCgroups
	}
	return v1, nil
}

// detectV1 finds the v1 hierarchies, mounted one per controller or with cpu and cpuacct
// together (systemd mounts "cpu,cpuacct" and links "cpu" and "cpuacct" to it).
func detectV1(r *reader, cg string) *layout {
	names := [nHier][]string{
		hCPU:     {"cpu", "cpu,cpuacct", "cpuacct,cpu"},
		hCPUAcct: {"cpuacct", "cpu,cpuacct", "cpuacct,cpu"},
		hMemory:  {"memory"},
		hBlkio:   {"blkio"},
		hPids:    {"pids"},
	}
	l := &layout{version: 1, mounts: make([]string, nHier), primary: -1}
	for h, cands := range names {
		for _, n := range cands {
			if exists(r, cg, "/"+n+"/cgroup.procs") {
				l.mounts[h] = cg + "/" + n
				break
			}
		}
	}
	for _, h := range []int{hMemory, hCPU, hCPUAcct, hPids, hBlkio} {
		if l.mounts[h] != "" {
			l.primary = h
			break
		}
	}
	if l.primary < 0 || (l.mounts[hCPU] == "" && l.mounts[hCPUAcct] == "" && l.mounts[hMemory] == "") {
		return nil
	}
	blkBytes, blkOps := "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"
	if l.mounts[hBlkio] != "" && !exists(r, l.mounts[hBlkio], "/"+blkBytes) {
		// Older kernels have only the per-cgroup counters; a container's cgroup rarely
		// has children, so they are nearly always the same numbers.
		blkBytes, blkOps = "blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"
	}
	for _, f := range v1Files {
		if l.mounts[f.hier] == "" {
			continue
		}
		switch f.name {
		case "blkio.bytes":
			f.name = blkBytes
		case "blkio.ops":
			f.name = blkOps
		}
		l.files = append(l.files, f)
	}
	for _, f := range v1Limits {
		if l.mounts[f.hier] != "" {
			l.limits = append(l.limits, f)
		}
	}
	return l
}

// findKubepods returns the kubepods cgroup under mount, relative to it, or "". cgroupRoot is
// kubelet's --cgroup-root. The systemd driver spells the cgroup "/foo/kubepods" as
// "foo.slice/foo-kubepods.slice".
func findKubepods(r *reader, mount, cgroupRoot string) string {
	cr := path.Clean("/" + cgroupRoot)
	if cr == "/" {
		cr = ""
	}
	cands := []string{cr + "/kubepods.slice", cr + "/kubepods"}
	if last := path.Base(cr); strings.HasSuffix(last, ".slice") {
		cands = append(cands, cr+"/"+strings.TrimSuffix(last, ".slice")+"-kubepods.slice")
	}
	for _, c := range cands {
		if dirExists(r.setPath(mount, c)) {
			return c
		}
	}
	return ""
}

func exists(r *reader, dir, name string) bool {
	fd, err := openFile(r.setPath(dir, name), oPath)
	if err != nil {
		return false
	}
	closeFile(fd)
	return true
}

// Package oomkill reads the victim's cgroup out of the kernel's oom-kill summary line
// ("oom-kill:constraint=...,oom_memcg=...,task_memcg=/kubepods/burstable/pod<uid>/<id>,task=java,
// pid=1234,uid=0", Linux 4.19+), so an OOMKilling problem can name the pod and container the
// kernel killed. kubelet's cgroupfs layout (kubepods/<qos>/pod<uid>/<id>) and its systemd layout
// (kubepods-<qos>-pod<uid_with_underscores>.slice/<runtime>-<id>.scope) are understood.
package oomkill

import "strings"

// Victim is the killed task's container, from its memory cgroup path.
type Victim struct {
	PodUID      string
	ContainerID string
	Cgroup      string
}

// Parse returns the victim of an oom-kill summary line; ok is false for any other line or a
// cgroup outside kubelet's pods.
func Parse(line string) (v Victim, ok bool) {
	if !strings.Contains(line, "oom-kill:") {
		return v, false
	}
	_, rest, found := strings.Cut(line, "task_memcg=")
	if !found {
		return v, false
	}
	path, _, _ := strings.Cut(rest, ",")
	path = strings.TrimSpace(path)
	v.Cgroup = path
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if uid, ok := podUID(p); ok {
			v.PodUID = uid
			if i+1 < len(parts) {
				v.ContainerID = containerID(parts[i+1])
			}
			return v, v.ContainerID != ""
		}
	}
	return v, false
}

// podUID recognises "pod<uid>" (cgroupfs) and "kubepods-<qos>-pod<uid>.slice" (systemd, with
// the uid's dashes written as underscores).
func podUID(seg string) (string, bool) {
	if s, ok := strings.CutSuffix(seg, ".slice"); ok {
		i := strings.LastIndex(s, "-pod")
		if i < 0 {
			return "", false
		}
		return strings.ReplaceAll(s[i+4:], "_", "-"), s[i+4:] != ""
	}
	if s, ok := strings.CutPrefix(seg, "pod"); ok && s != "" {
		return s, true
	}
	return "", false
}

// containerID strips a systemd scope's runtime prefix and suffix ("cri-containerd-<id>.scope",
// "crio-<id>.scope", "docker-<id>.scope").
func containerID(seg string) string {
	if s, ok := strings.CutSuffix(seg, ".scope"); ok {
		if i := strings.LastIndex(s, "-"); i >= 0 {
			return s[i+1:]
		}
		return s
	}
	return seg
}

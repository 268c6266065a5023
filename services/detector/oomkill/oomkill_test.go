package oomkill

import "testing"

func TestParse(t *testing.T) {
	const cid = "1f0e4d0f6a2c4b8e9d7c5a3b1e0f2d4c6a8b0c2e4f6a8b0d2c4e6f8a0b2c4d6e"
	for _, tc := range []struct {
		line string
		want Victim
		ok   bool
	}{
		{"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=" + cid + ",mems_allowed=0,oom_memcg=/kubepods/burstable/pod6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b/" + cid + ",task_memcg=/kubepods/burstable/pod6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b/" + cid + ",task=java,pid=4711,uid=1000",
			Victim{"6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b", cid, "/kubepods/burstable/pod6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b/" + cid}, true},
		{"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods.slice/kubepods-pod0a9f3c6e_1d2b_4e8f_a7c5_3b9d1e2f4a6c.slice,task_memcg=/kubepods.slice/kubepods-pod0a9f3c6e_1d2b_4e8f_a7c5_3b9d1e2f4a6c.slice/cri-containerd-" + cid + ".scope,task=nginx,pid=6001,uid=101",
			Victim{"0a9f3c6e-1d2b-4e8f-a7c5-3b9d1e2f4a6c", cid, "/kubepods.slice/kubepods-pod0a9f3c6e_1d2b_4e8f_a7c5_3b9d1e2f4a6c.slice/cri-containerd-" + cid + ".scope"}, true},
		{"oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a9f3c6e_1d2b.slice/crio-abc.scope,task=x,pid=1,uid=0",
			Victim{"0a9f3c6e-1d2b", "abc", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a9f3c6e_1d2b.slice/crio-abc.scope"}, true},
		{"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/sshd.service,task=sshd,pid=1,uid=0", Victim{}, false},
		{"oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/kubepods/burstable/pod6b1c,task=x", Victim{}, false}, // the pod, no container
		{"Killed process 4711 (java) total-vm:1kB, anon-rss:1kB, file-rss:0kB", Victim{}, false},
	} {
		got, ok := Parse(tc.line)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("oom-kill:task_memcg=/kubepods/burstable/podx/y,task=z")
	f.Add("oom-kill:task_memcg=/kubepods.slice/a-pod_.slice/.scope")
	f.Fuzz(func(t *testing.T, line string) { Parse(line) })
}

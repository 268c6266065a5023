package cgroups

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// v2ContainerFiles are the files of a container cgroup on Linux 6.x with every controller
// enabled: the generated tree has them all, so a naive reader pays for them as it would on a
// node. Those the collector reads carry realistic values; the rest a plausible constant.
var v2ContainerFiles = map[string]string{
	"cpu.stat":            v2CPUStatText,
	"cpu.max":             "50000 100000\n",
	"cpu.weight":          "10\n",
	"memory.current":      "187346944\n",
	"memory.stat":         v2MemoryStatText,
	"memory.max":          "268435456\n",
	"memory.events":       "low 0\nhigh 0\nmax 17\noom 0\noom_kill 0\noom_group_kill 0\n",
	"memory.swap.current": "0\n",
	"io.stat":             "259:0 rbytes=2183168 wbytes=40960 rios=97 wios=8 dbytes=0 dios=0\n8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
	"pids.current":        "12\n",
}

var v2OtherFiles = []string{
	"cgroup.controllers", "cgroup.events", "cgroup.freeze", "cgroup.kill", "cgroup.max.depth",
	"cgroup.max.descendants", "cgroup.pressure", "cgroup.stat", "cgroup.subtree_control",
	"cgroup.threads", "cgroup.type", "cpu.idle", "cpu.max.burst", "cpu.pressure", "cpu.stat.local",
	"cpu.uclamp.max", "cpu.uclamp.min", "cpu.weight.nice", "cpuset.cpus", "cpuset.cpus.effective",
	"cpuset.cpus.exclusive", "cpuset.cpus.exclusive.effective", "cpuset.cpus.partition", "cpuset.mems",
	"cpuset.mems.effective", "hugetlb.1GB.current", "hugetlb.1GB.events", "hugetlb.1GB.events.local",
	"hugetlb.1GB.max", "hugetlb.1GB.numa_stat", "hugetlb.1GB.rsvd.current", "hugetlb.1GB.rsvd.max",
	"hugetlb.2MB.current", "hugetlb.2MB.events", "hugetlb.2MB.events.local", "hugetlb.2MB.max",
	"hugetlb.2MB.numa_stat", "hugetlb.2MB.rsvd.current", "hugetlb.2MB.rsvd.max", "io.max", "io.pressure",
	"io.prio.class", "io.weight", "irq.pressure", "memory.events.local", "memory.high", "memory.low",
	"memory.min", "memory.numa_stat", "memory.oom.group", "memory.peak", "memory.pressure",
	"memory.reclaim", "memory.swap.events", "memory.swap.high", "memory.swap.max", "memory.swap.peak",
	"memory.zswap.current", "memory.zswap.max", "memory.zswap.writeback", "misc.current", "misc.events",
	"misc.max", "pids.events", "pids.max", "pids.peak", "rdma.current", "rdma.max",
}

const v2CPUStatText = "usage_usec 183456789\nuser_usec 150123456\nsystem_usec 33333333\ncore_sched.force_idle_usec 0\n" +
	"nr_periods 51234\nnr_throttled 8123\nthrottled_usec 402311987\nnr_bursts 0\nburst_usec 0\n"

const v2MemoryStatText = "anon 120000512\nfile 62914560\nkernel 1155072\nkernel_stack 163840\npagetables 409600\n" +
	"sec_pagetables 0\npercpu 1440\nsock 0\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\nfile_mapped 151552\n" +
	"file_dirty 0\nfile_writeback 0\nswapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon 120000512\n" +
	"active_anon 0\ninactive_file 41943040\nactive_file 20971520\nunevictable 0\nslab_reclaimable 236712\n" +
	"slab_unreclaimable 260424\nslab 497136\nworkingset_refault_anon 0\nworkingset_refault_file 0\n" +
	"workingset_activate_anon 0\nworkingset_activate_file 0\nworkingset_restore_anon 0\nworkingset_restore_file 0\n" +
	"workingset_nodereclaim 0\npgscan 0\npgsteal 0\npgscan_kswapd 0\npgscan_direct 0\npgscan_khugepaged 0\n" +
	"pgsteal_kswapd 0\npgsteal_direct 0\npgsteal_khugepaged 0\npgfault 60987\npgmajfault 12\npgrefill 0\n" +
	"pgactivate 3\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\nzswpin 0\nzswpout 0\nzswpwb 0\n" +
	"thp_fault_alloc 0\nthp_collapse_alloc 0\nthp_swpout 0\nthp_swpout_fallback 0\n"

const netDevText = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
	"    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n" +
	"  eth0: 1839021   10233    0    2    0     0          0         0   902113    8120    0    0    0     0       0          0\n"

// genV2Tree makes a cgroup v2 tree (systemd driver) of n containers under root, four to a pod
// (a pause container and three others), pods cycling through the QoS classes, with a process and
// its /proc/<pid>/net/dev per pod.
func genV2Tree(root string, n int) error {
	cg := filepath.Join(root, "sys/fs/cgroup")
	kp := filepath.Join(cg, "kubepods.slice")
	if err := os.MkdirAll(kp, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids rdma misc\n"), 0o644); err != nil {
		return err
	}
	for i := 0; i*4 < n; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "pod %d", i))
		x := hex.EncodeToString(h[:16])
		uid := x[0:8] + "_" + x[8:12] + "_4" + x[13:16] + "_8" + x[17:20] + "_" + x[20:32]
		var pod string
		switch i % 3 {
		case 0:
			pod = filepath.Join(kp, "kubepods-pod"+uid+".slice")
		case 1:
			pod = filepath.Join(kp, "kubepods-burstable.slice", "kubepods-burstable-pod"+uid+".slice")
		default:
			pod = filepath.Join(kp, "kubepods-besteffort.slice", "kubepods-besteffort-pod"+uid+".slice")
		}
		pid := strconv.Itoa(10000 + i)
		for j := 0; j < 4 && i*4+j < n; j++ {
			id := sha256.Sum256(fmt.Appendf(nil, "container %d %d", i, j))
			ct := filepath.Join(pod, "cri-containerd-"+hex.EncodeToString(id[:])+".scope")
			if err := os.MkdirAll(ct, 0o755); err != nil {
				return err
			}
			files := map[string]string{"cgroup.procs": pid + "\n"}
			for name, text := range v2ContainerFiles {
				files[name] = text
			}
			for _, name := range v2OtherFiles {
				files[name] = "0\n"
			}
			for name, text := range files {
				if err := os.WriteFile(filepath.Join(ct, name), []byte(text), 0o644); err != nil {
					return err
				}
			}
		}
		dev := filepath.Join(root, "proc", pid, "net", "dev")
		if err := os.MkdirAll(filepath.Dir(dev), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dev, []byte(netDevText), 0o644); err != nil {
			return err
		}
	}
	return nil
}

package simulate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// kernelSource is the `source` of NPD's kernel-monitor.json: the log subject's source token.
const kernelSource = "kernel-monitor"

const (
	// maxBatchLines and minFlush are the collector's batching: at most 500 lines, at most every
	// 200 ms.
	maxBatchLines = 500
	minFlush      = 200 * time.Millisecond
)

// kline is a kernel message and its syslog priority (0 emerg .. 7 debug).
type kline struct {
	text string
	prio int32
}

// matchingLines are real kernel messages, at least one for every rule of NPD's
// kernel-monitor.json, in the form /dev/kmsg gives them (no dmesg timestamp). NPD anchors a
// pattern at the end of the line, so none carries a tail its pattern does not allow.
var matchingLines = []kline{
	{"Killed process 28341 (java) total-vm:9512344kB, anon-rss:4123456kB, file-rss:21344kB, shmem-rss:0kB, UID:1000 pgtables:8620kB oom_score_adj:936", 3},
	{"Memory cgroup out of memory: Killed process 4242 (python3) total-vm:1843200kB, anon-rss:1021440kB, file-rss:10240kB, shmem-rss:0kB, UID:0 pgtables:2400kB oom_score_adj:999", 3},
	{"INFO: task kworker/0:1:123 blocked for more than 120 seconds.", 3},
	{"INFO: task jbd2/nvme1n1-8:412 blocked for more than 120 seconds.", 3},
	{"unregister_netdevice: waiting for eth0 to become free. Usage count = 1", 0},
	{"BUG: unable to handle kernel NULL pointer dereference at 0000000000000000", 1},
	{"BUG: unable to handle kernel NULL pointer dereference at 00000000000000a8", 1},
	{"divide error: 0000 [#1] SMP", 4},
	{"EXT4-fs error (device nvme1n1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0", 2},
	{"EXT4-fs warning (device nvme0n1p1): ext4_dx_add_entry:2461: Directory (ino: 1048577) index full, reach max htree level :2", 4},
	{"Buffer I/O error on dev nvme1n1, logical block 0, async page read", 3},
	{"XFS (sda1): Log I/O Error Detected.  Shutting down filesystem", 1},
	{"XFS (nvme1n1): Corruption of in-memory data detected.  Shutting down filesystem", 1},
	{"EDAC skx MC0: 1 CE memory read error on CPU_SrcID#0_MC#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x2f1b2 offset:0x400 grain:32 syndrome:0x0 - err_code:0x0000:0x009f socket:0 imc:0 rank:0 bg:1 ba:2 row:0x5e3 col:0x1f8)", 4},
	{"{1}[Hardware Error]: event severity: corrected", 4},
	{"{2}[Hardware Error]: event severity: recoverable", 3},
	{"{3}[Hardware Error]: event severity: fatal", 0},
	{"INFO: task docker:4096 blocked for more than 120 seconds.", 3},
}

// benignTemplates are everyday kernel chatter of a Kubernetes node: pod networking coming and
// going, audit, mounts. Some are near misses of the rules (an EXT4-fs or xfs line that is not an
// error) so a detector that matches too loosely shows it.
var benignTemplates = []func(r *rand.Rand) kline{
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("IPv6: ADDRCONF(NETDEV_CHANGE): %s: link becomes ready", veth(r)), 6}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("cni0: port %d(%s) entered blocking state", 1+r.IntN(40), veth(r)), 6}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("cni0: port %d(%s) entered disabled state", 1+r.IntN(40), veth(r)), 6}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("cni0: port %d(%s) entered forwarding state", 1+r.IntN(40), veth(r)), 6}
	},
	func(r *rand.Rand) kline { return kline{fmt.Sprintf("device %s entered promiscuous mode", veth(r)), 6} },
	func(r *rand.Rand) kline { return kline{fmt.Sprintf("device %s left promiscuous mode", veth(r)), 6} },
	func(r *rand.Rand) kline { return kline{fmt.Sprintf("eth0: renamed from tmp%05x", r.IntN(1<<20)), 6} },
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf(`audit: type=1400 audit(%d.%03d:%d): apparmor="STATUS" operation="profile_replace" info="same as current profile, skipping" profile="unconfined" name="cri-containerd.apparmor.d" pid=%d comm="apparmor_parser"`,
			1_767_000_000+r.IntN(1_000_000), r.IntN(1000), 100+r.IntN(9000), 1000+r.IntN(60000)), 5}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("kauditd_printk_skb: %d callbacks suppressed", 1+r.IntN(30)), 4}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("IPv4: martian source 10.244.%d.%d from 10.244.%d.%d, on dev eth0", r.IntN(64), 2+r.IntN(250), r.IntN(64), 2+r.IntN(250)), 6}
	},
	func(r *rand.Rand) kline {
		return kline{"EXT4-fs (nvme2n1): mounted filesystem with ordered data mode. Opts: (null). Quota mode: none.", 6}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("xfs filesystem being mounted at /var/lib/kubelet/pods/%s/volumes/kubernetes.io~csi/pvc-%s/mount supports timestamps until 2038 (0x7fffffff)", uuid(r), uuid(r)), 4}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("loop%d: detected capacity change from 0 to %d", r.IntN(8), 8*(1+r.IntN(100000))), 6}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("net_ratelimit: %d callbacks suppressed", 1+r.IntN(20)), 4}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("IPVS: rr: TCP 10.96.%d.%d:443 - no destination available", r.IntN(256), 1+r.IntN(254)), 6}
	},
	func(r *rand.Rand) kline {
		return kline{fmt.Sprintf("overlayfs: fs on '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/%d/fs' does not support file handles, falling back to xino=off.", 100+r.IntN(5000)), 4}
	},
}

func veth(r *rand.Rand) string { return fmt.Sprintf("veth%08x", r.Uint32()) }

// kernelCatalog is the lines a run draws from, built once and shared read-only by every node.
type kernelCatalog struct {
	matching []kline
	benign   []kline
}

// benignVariants is how many versions of each template a catalog holds: enough to look varied,
// few enough that drawing a line costs nothing.
const benignVariants = 8

func newKernelCatalog(seed int64) *kernelCatalog {
	r := rand.New(rand.NewPCG(uint64(seed), 0xca7a106))
	k := &kernelCatalog{matching: matchingLines}
	for _, t := range benignTemplates {
		for range benignVariants {
			k.benign = append(k.benign, t(r))
		}
	}
	return k
}

// logStream is a node's /dev/kmsg as the collector reads it: consecutive sequence numbers under
// a stream id naming the boot, a line due every 1/rate seconds.
type logStream struct {
	msg       *nwv1.LogBatch
	pool      []*nwv1.LogLine
	nextSeq   uint64
	nextDue   time.Time
	gap       time.Duration
	matchRate float64
	kern      *kernelCatalog
}

func newLogStream(r *rand.Rand, node, bootID string, start time.Time, p params, kern *kernelCatalog) *logStream {
	gap := max(time.Duration(float64(time.Second)/p.logRate), time.Nanosecond)
	return &logStream{
		msg: &nwv1.LogBatch{Node: node, Source: kernelSource, StreamId: "kmsg:" + bootID,
			Time: &timestamppb.Timestamp{}},
		nextSeq:   1000 + r.Uint64N(100_000), // a kernel has logged a while before the collector starts
		nextDue:   start.Add(time.Duration(r.Int64N(int64(gap)))),
		gap:       gap,
		matchRate: p.matchRate,
		kern:      kern,
	}
}

// due is the number of lines due by now.
func (ls *logStream) due(now time.Time) int {
	if now.Before(ls.nextDue) {
		return 0
	}
	return int(now.Sub(ls.nextDue)/ls.gap) + 1
}

// fill makes the batch the next k lines (k ≤ maxBatchLines), each timed when it was due, and
// says how many of them a rule matches.
func (ls *logStream) fill(r *rand.Rand, now time.Time, k int) (matched int) {
	for len(ls.pool) < k {
		ls.pool = append(ls.pool, &nwv1.LogLine{Time: &timestamppb.Timestamp{}})
	}
	b := ls.msg
	b.Lines = ls.pool[:k]
	b.FirstSeq = ls.nextSeq
	setTime(b.Time, now)
	for _, l := range b.Lines {
		l.Seq = ls.nextSeq
		ls.nextSeq++
		setTime(l.Time, ls.nextDue)
		ls.nextDue = ls.nextDue.Add(ls.gap)
		var kl kline
		if r.Float64() < ls.matchRate {
			kl = ls.kern.matching[r.IntN(len(ls.kern.matching))]
			matched++
		} else {
			kl = ls.kern.benign[r.IntN(len(ls.kern.benign))]
		}
		l.Message, l.Priority = kl.text, kl.prio
	}
	return matched
}

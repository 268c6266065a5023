package cgroups

import (
	"bytes"
	"strconv"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/collector/internal/bytesparse"
)

// A pod's containers share one network namespace, read through /proc/<pid>/net/dev of any
// process of the pod: the first pid in cgroup.procs of one of its containers. Both files stay
// open between passes while that pid stays first. A pod whose namespace is the host's (a
// hostNetwork pod) is left out: its "traffic" would be the node's, counted again. procfs gives
// each network namespace its own /proc/net entries, so the inode of an open /proc/<pid>/net/dev
// names the namespace; unlike /proc/<pid>/ns/net it needs no ptrace rights to open. Pids are
// the host's as long as Root/proc is the host's /proc and the collector runs in the host's pid
// namespace (hostPID), as cAdvisor does.

// retryProcs is how many passes apart a pod without processes is looked at again.
const retryProcs = 6

type podNet struct {
	src     *container // whose cgroup.procs is held open
	retryAt uint64     // pass from which to look for a pid again after finding none
	procsFD int32
	pid     int
	netFD   int32
	host    bool     // pid's network namespace is the host's
	names   []string // interface names of the last read, reused while they stay the same
}

// ifaceStats is one line of /proc/net/dev: the name and its 16 counters.
type ifaceStats struct {
	name []byte
	v    [16]uint64
}

// parseNetDev parses /proc/<pid>/net/dev, skipping the two header lines (they have no colon)
// and the loopback interface. Names point into b.
func parseNetDev(b []byte, ifs []ifaceStats) ([]ifaceStats, error) {
	ifs = ifs[:0]
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytesparse.TrimSpace(line[:colon])
		if len(name) == 0 {
			return ifs, errSyntax
		}
		var st ifaceStats
		st.name = name
		rest := line[colon+1:]
		for i := range st.v {
			var f []byte
			f, rest = bytesparse.Field(rest)
			v, err := bytesparse.Uint(f)
			if err != nil {
				return ifs, err
			}
			st.v[i] = v
		}
		if string(name) != "lo" {
			ifs = append(ifs, st)
		}
	}
	return ifs, nil
}

func (c *Collector) resetProcs(p *pod) {
	if p.net.procsFD >= 0 {
		closeFile(int(p.net.procsFD))
		c.held--
	}
	p.net.procsFD, p.net.src = -1, nil
}

func (c *Collector) resetNet(p *pod) {
	c.resetProcs(p)
	if p.net.netFD >= 0 {
		closeFile(int(p.net.netFD))
		c.held--
	}
	p.net.netFD, p.net.pid, p.net.host = -1, 0, false
}

// podPid returns the first pid in cgroup.procs of one of the pod's containers, 0 when it has
// none. While the container that gave a pid last time still has one, that is one pread of its
// held cgroup.procs. Otherwise the pod's containers are tried in turn; when none has a process
// (rare: a container's cgroup goes with its last process) they are tried again only
// every retryProcs passes.
func (c *Collector) podPid(p *pod) int {
	if ct := p.net.src; ct != nil && !ct.dead {
		if b, err := c.r.readFD(int(p.net.procsFD)); err == nil {
			c.st.FilesRead++
			if pid, _ := parseFirstPid(b); pid > 0 {
				return pid
			}
		}
	}
	c.resetProcs(p)
	if c.pass < p.net.retryAt {
		return 0
	}
	mount := c.lay.mounts[c.lay.primary]
	for _, ct := range p.list {
		if ct.dead {
			continue
		}
		fd, err := openFile(c.r.setPath(mount, ct.rel, "/cgroup.procs"), oRead)
		if err != nil {
			continue
		}
		pid := 0
		if b, err := c.r.readFD(fd); err == nil {
			c.st.FilesRead++
			pid, _ = parseFirstPid(b)
		}
		if pid > 0 && c.held < c.maxHeld {
			p.net.procsFD, p.net.src = int32(fd), ct
			c.held++
			return pid
		}
		closeFile(fd)
		if pid > 0 {
			return pid
		}
	}
	p.net.retryAt = c.pass + retryProcs
	return 0
}

// setProcPath makes r.path Root/proc/<pid><suffix>.
func (c *Collector) setProcPath(pid int, suffix string) []byte {
	p := append(c.r.path[:0], c.root...)
	p = append(p, "/proc/"...)
	p = strconv.AppendInt(p, int64(pid), 10)
	p = append(p, suffix...)
	c.r.path = append(p, 0)
	return c.r.path
}

// hostNet reports whether fd, an open /proc/<pid>/net/dev, is the host's (pid 1's); unknown
// counts as no.
func (c *Collector) hostNet(fd int) bool {
	if !c.hostNetKnown {
		c.hostNetKnown = true
		if hfd, err := openFile(c.setProcPath(1, "/net/dev"), oRead); err == nil {
			c.hostNetIno, _ = fdIno(hfd)
			closeFile(hfd)
		}
	}
	ino, err := fdIno(fd)
	return err == nil && c.hostNetIno != 0 && ino == c.hostNetIno
}

// readPodNet fills out with the pod's interfaces; false leaves the pod out (no process, host
// network, or nothing readable).
func (c *Collector) readPodNet(p *pod, out *nwv1.PodNetwork) bool {
	pid := c.podPid(p)
	if pid == 0 {
		return false
	}
	if pid != p.net.pid {
		if p.net.netFD >= 0 {
			closeFile(int(p.net.netFD))
			c.held--
		}
		p.net.netFD, p.net.pid, p.net.host = -1, pid, false
	}
	if p.net.host {
		return false
	}
	var b []byte
	var err error
	if p.net.netFD >= 0 {
		if b, err = c.r.readFD(int(p.net.netFD)); err != nil {
			closeFile(int(p.net.netFD))
			c.held--
			p.net.netFD, p.net.pid = -1, 0
			return false
		}
	} else {
		fd, oerr := openFile(c.setProcPath(pid, "/net/dev"), oRead)
		if oerr != nil {
			return false
		}
		if p.net.host = c.hostNet(fd); p.net.host {
			closeFile(fd)
			return false
		}
		if b, err = c.r.readFD(fd); err != nil {
			closeFile(fd)
			return false
		}
		if c.held < c.maxHeld {
			p.net.netFD = int32(fd)
			c.held++
		} else {
			closeFile(fd)
		}
	}
	c.st.FilesRead++
	ifs, err := parseNetDev(b, c.ifs)
	c.ifs = ifs
	if err != nil {
		c.noteErr(&c.st.ParseErrors, c.root+"/proc/"+strconv.Itoa(pid)+"/net/dev", err)
	}
	stats := make([]nwv1.NetworkStats, len(ifs))
	out.PodUid = p.uid
	out.Interfaces = make([]*nwv1.NetworkStats, len(ifs))
	if p.metaPass == c.pass {
		out.PodName, out.Namespace = p.meta.PodName, p.meta.Namespace
	}
	if len(p.net.names) != len(ifs) {
		p.net.names = make([]string, len(ifs))
	}
	for i := range ifs {
		f, s := &ifs[i], &stats[i]
		if p.net.names[i] != string(f.name) {
			p.net.names[i] = string(f.name)
		}
		s.Interface = p.net.names[i]
		s.RxBytes, s.RxPackets, s.RxErrors, s.RxDropped = f.v[0], f.v[1], f.v[2], f.v[3]
		s.TxBytes, s.TxPackets, s.TxErrors, s.TxDropped = f.v[8], f.v[9], f.v[10], f.v[11]
		out.Interfaces[i] = s
	}
	return true
}

// collectNet reads the network of every pod with a container reported in this pass.
func (c *Collector) collectNet() []*nwv1.PodNetwork {
	slab := make([]nwv1.PodNetwork, len(c.pods))
	out := make([]*nwv1.PodNetwork, 0, len(c.pods))
	for i, p := range c.pods {
		if p.reported == c.pass && c.readPodNet(p, &slab[i]) {
			out = append(out, &slab[i])
		}
	}
	return out
}

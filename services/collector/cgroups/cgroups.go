// Package cgroups reads the resource usage of every Kubernetes container on a node straight from
// the cgroup file system, as cAdvisor does for kubelet, at a small fraction of its cost: cgroup v1
// and v2, the systemd and cgroupfs drivers, under a host root so tests run against copies of real
// trees. It finds containers by kubelet's cgroup layout (kubepods / QoS class / pod / container),
// keeps that tree between passes (inotify tells it what changed), reads only the files a
// ContainerSample needs, keeps them open and re-reads them with one pread each, and parses them
// without allocating. Per-pod network counters come from /proc/<pid>/net/dev of one process of
// the pod. Names (container, pod, namespace, image) come from a lookup the caller provides.
package cgroups

import (
	"fmt"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Meta is what the container runtime knows of a container and the cgroup tree does not.
type Meta struct{ Name, PodName, Namespace, Image string }

// Options configure a Collector.
type Options struct {
	// Root is the host's root file system as the collector sees it: cgroups are read under
	// Root/sys/fs/cgroup and processes under Root/proc. Empty means "/".
	Root string
	// CgroupRoot is kubelet's --cgroup-root, the cgroup (relative to each hierarchy's mount)
	// that holds the kubepods cgroup. Empty means "/".
	CgroupRoot string
	// Version forces cgroup version 1 or 2; 0 detects it.
	Version int
	// Lookup attaches names from the container runtime; nil attaches none. It is called for
	// every container on every pass, so it should answer from a cache.
	Lookup func(containerID string) (Meta, bool)
	// LimitsEvery is how many passes apart a container's limits (CPU quota, period and shares,
	// memory limit) are re-read; they are read when the container is found and change only on
	// an in-place resize. 0 means 30 (5 minutes at a 10 s interval); 1 re-reads them every pass.
	LimitsEvery int
	// MaxHeldFiles bounds the cgroup and proc files kept open between passes. A held file is
	// re-read with one pread (1–3 µs) instead of open+read+close (~10 µs), but pins about 6 KiB
	// of kernel memory (mostly its seq_file buffer), charged to the collector's cgroup: 1,000
	// cgroup v1 containers hold 9,500 files and 54 MiB. 0 means 16384; a negative value holds
	// none. The process's open-file limit lowers it further.
	MaxHeldFiles int
}

// Stats describe one pass.
type Stats struct {
	Containers  int // containers reported
	Vanished    int // containers that disappeared while being read: skipped, not reported
	ParseErrors int // files that could not be parsed; their containers are reported with the rest
	ReadErrors  int // files or directories that could not be read for another reason than vanishing
	FilesRead   int // files read
	DirsListed  int // directories listed (0 when inotify reported no change)
	HeldFiles   int // files kept open for the next pass
	// FirstError is the first read or parse error of the pass, for the log; nil when none.
	FirstError error
}

// Collector reads container samples. It keeps state between passes (the tree, open files) and
// is not safe for concurrent use: one loop calls Collect every interval, and Close at the end.
type Collector struct {
	opts        Options
	root        string
	maxHeld     int
	limitsEvery uint64

	lay   *layout
	r     reader
	w     *watcher // nil: every directory is listed on every pass
	wds   map[int]*dir
	evs   []watchEvent
	kp    *dir
	dirty []*dir

	order   []*container // every known container, by cgroup path
	pods    []*pod       // pods in the order of their containers
	changed bool         // order must be rebuilt
	gen     uint64
	slots   uint64
	pass    uint64
	held    int

	hostNetKnown bool
	hostNetIno   uint64
	ifs          []ifaceStats
	a            acc
	st           Stats

	afterDiscover func() // tests: runs between discovery and reading
}

// New returns a Collector; it touches nothing until the first Collect.
func New(opts Options) *Collector {
	c := &Collector{opts: opts, root: opts.Root, r: newReader(), wds: map[int]*dir{}}
	if c.root == "/" {
		c.root = ""
	}
	c.limitsEvery = 30
	if opts.LimitsEvery > 0 {
		c.limitsEvery = uint64(opts.LimitsEvery)
	}
	c.maxHeld = opts.MaxHeldFiles
	if c.maxHeld == 0 {
		c.maxHeld = 16384
	}
	// Leave room for everything else the process opens (sockets, logs, the state file).
	if lim := openFilesLimit() - 1024; c.maxHeld > lim {
		c.maxHeld = lim
	}
	if c.maxHeld < 0 {
		c.maxHeld = 0
	}
	if w, err := newWatcher(); err == nil {
		c.w = w
	}
	return c
}

// Close releases the open files and the inotify instance.
func (c *Collector) Close() error {
	if c.kp != nil {
		c.removeDir(c.kp)
	}
	c.stopWatching()
	return nil
}

// Collect reads every container cgroup once. containers are in cgroup path order; pods holds
// the network counters of the pods whose namespace could be read. err is ErrNoCgroups when there
// is no cgroup file system under the root; a node without a kubepods cgroup (yet) has no
// containers and no error.
func (c *Collector) Collect() (containers []*nwv1.ContainerSample, pods []*nwv1.PodNetwork, stats Stats, err error) {
	c.st = Stats{}
	c.pass++
	if c.kp == nil {
		// Until kubelet has made its cgroups, where it will make them is not settled.
		lay, err := detect(&c.r, c.root+"/sys/fs/cgroup", c.opts.Version, c.opts.CgroupRoot)
		if err != nil {
			return nil, nil, c.st, err
		}
		c.lay = lay
	}
	c.sync()
	if c.afterDiscover != nil {
		c.afterDiscover()
	}
	n := len(c.order)
	samples := make([]nwv1.ContainerSample, n)
	cpus := make([]nwv1.ContainerCPU, n)
	mems := make([]nwv1.ContainerMemory, n)
	blks := make([]nwv1.ContainerBlkio, n)
	out := make([]*nwv1.ContainerSample, 0, n)
	for i, ct := range c.order {
		if ct.dead {
			continue
		}
		s := &samples[i]
		s.Id, s.PodUid, s.QosClass, s.CgroupPath = ct.id, ct.pod.uid, ct.pod.qos, ct.rel
		s.CgroupVersion = uint32(c.lay.version)
		s.Cpu, s.Memory, s.Blkio = &cpus[i], &mems[i], &blks[i]
		c.a = acc{s: s, cpu: s.Cpu, mem: s.Memory, blk: s.Blkio, lim: &ct.lim}
		switch c.readContainer(ct) {
		case readGone:
			c.st.Vanished++
			c.removeContainer(ct)
			continue
		case readSkip:
			c.st.Vanished++
			continue
		}
		if c.opts.Lookup != nil {
			if m, ok := c.opts.Lookup(ct.id); ok {
				s.Name, s.PodName, s.Namespace, s.Image = m.Name, m.PodName, m.Namespace, m.Image
				if ct.pod.metaPass != c.pass {
					ct.pod.meta, ct.pod.metaPass = m, c.pass
				}
			}
		}
		ct.pod.reported = c.pass
		out = append(out, s)
	}
	pods = c.collectNet()
	c.st.Containers = len(out)
	c.st.HeldFiles = c.held
	return out, pods, c.st, nil
}

type readResult int

const (
	readOK   readResult = iota
	readGone            // the container's cgroup is gone: forget it
	readSkip            // a v1 hierarchy lacks it for now (being made or removed): skip this pass
)

// readContainer reads ct's files into c.a.
func (c *Collector) readContainer(ct *container) readResult {
	refresh := !ct.limRead || (c.pass+ct.slot)%c.limitsEvery == 0
	if refresh {
		ct.missing = 0 // look again for files that were missing
	}
	for i := range c.lay.files {
		if r := c.readSpec(ct, c.lay.files, i, 0); r != readOK {
			return r
		}
	}
	if refresh {
		for i := range c.lay.limits {
			if r := c.readSpec(ct, c.lay.limits, i, 16); r != readOK {
				return r
			}
		}
		ct.limRead = true
	}
	c.a.finish()
	return readOK
}

// readSpec reads and parses specs[i] of ct. Files of layout.files (bit 0) stay open while the
// budget allows; limits (bit 16) are opened each time.
func (c *Collector) readSpec(ct *container, specs []fileSpec, i int, bit uint) readResult {
	if ct.missing&(1<<(bit+uint(i))) != 0 {
		return readOK
	}
	sp := &specs[i]
	b, err := c.readFile(ct, sp, i, bit == 0)
	if err != nil {
		if !isGone(err) {
			c.noteErr(&c.st.ReadErrors, "read "+c.lay.mounts[sp.hier]+ct.rel+"/"+sp.name, err)
			return readOK
		}
		switch {
		case !dirExists(c.r.setPath(c.lay.mounts[c.lay.primary], ct.rel)):
			return readGone
		case sp.hier != c.lay.primary && !dirExists(c.r.setPath(c.lay.mounts[sp.hier], ct.rel)):
			return readSkip
		}
		// The cgroup is there and the file is not (no swap accounting, a controller not
		// enabled for the subtree): its fields stay zero until the next look.
		ct.missing |= 1 << (bit + uint(i))
		return readOK
	}
	c.st.FilesRead++
	if err := sp.parse(&c.a, b); err != nil {
		c.noteErr(&c.st.ParseErrors, "parse "+c.lay.mounts[sp.hier]+ct.rel+"/"+sp.name, err)
	}
	return readOK
}

// readFile returns the contents of sp for ct, from its held file when there is one.
func (c *Collector) readFile(ct *container, sp *fileSpec, i int, hold bool) ([]byte, error) {
	if hold && ct.fds[i] >= 0 {
		b, err := c.r.readFD(int(ct.fds[i]))
		if err == nil {
			return b, nil
		}
		closeFile(int(ct.fds[i]))
		ct.fds[i] = -1
		c.held--
		return nil, err
	}
	fd, err := openFile(c.r.setPath(c.lay.mounts[sp.hier], ct.rel, "/", sp.name), oRead)
	if err != nil {
		if isTooManyFiles(err) {
			c.maxHeld = c.held // hold no more; what is held keeps working
		}
		return nil, err
	}
	b, err := c.r.readFD(fd)
	if hold && err == nil && c.held < c.maxHeld {
		ct.fds[i] = int32(fd)
		c.held++
	} else {
		closeFile(fd)
	}
	return b, err
}

// noteErr counts an error and keeps the first of the pass.
func (c *Collector) noteErr(n *int, what string, err error) {
	*n++
	if c.st.FirstError == nil {
		c.st.FirstError = fmt.Errorf("%s: %w", what, err)
	}
}

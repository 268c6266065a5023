package cgroups

import (
	"bytes"
	"slices"
	"strings"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Discovery keeps the kubepods tree (QoS cgroups, pod cgroups, container cgroups) between passes.
// With inotify watching every directory of it, a pass that finds no event lists nothing; a
// directory with an event is listed again and reconciled with what is known. Without inotify (or
// after the kernel dropped events) every directory is listed again, one getdents per directory.

type dirKind uint8

const (
	kindKubepods dirKind = iota
	kindQoS
	kindPod
)

// dir is a watched directory of the tree: the kubepods cgroup, a QoS cgroup or a pod cgroup.
type dir struct {
	name, rel string // name in the parent; path relative to the hierarchy mount
	kind      dirKind
	qos       nwv1.QOSClass
	wd        int // inotify watch, -1 without
	parent    *dir
	subs      map[string]*dir // QoS and pod cgroups, by name
	pod       *pod            // for a pod cgroup
	seen      uint64
	dirty     bool
	dead      bool
}

type pod struct {
	uid, rel   string
	qos        nwv1.QOSClass
	containers map[string]*container // by directory name
	list       []*container          // in output order
	net        podNet
	meta       Meta
	metaPass   uint64 // pass in which meta was set
	reported   uint64 // last pass in which one of its containers was reported
}

type container struct {
	name, id, rel string
	pod           *pod
	fds           []int32 // held files, per layout.files; -1 when not open
	missing       uint32  // bit i: layout.files[i] absent; bit 16+i: layout.limits[i]
	lim           limits
	limRead       bool
	slot          uint64 // spreads the limit re-reads over passes
	seen          uint64
	dead          bool
}

// sync brings the tree up to date with the cgroup file system.
func (c *Collector) sync() {
	defer func() {
		if c.changed {
			c.rebuildOrder()
		}
	}()
	mount := c.lay.mounts[c.lay.primary]
	if c.kp == nil {
		rel := findKubepods(&c.r, mount, c.opts.CgroupRoot)
		if rel == "" {
			return // not a kubelet node, or not yet
		}
		c.kp = &dir{rel: rel, kind: kindKubepods, wd: -1, subs: map[string]*dir{}}
		c.watch(c.kp)
		c.markDirty(c.kp)
	}
	if c.w == nil {
		c.markAll(c.kp)
	} else {
		evs, overflow, err := c.w.drain(c.evs[:0])
		c.evs = evs
		if err != nil || overflow {
			c.markAll(c.kp)
		}
		for _, e := range evs {
			d := c.wds[e.wd]
			switch {
			case d == nil || d.dead:
			case e.selfGone() && d.parent != nil:
				c.markDirty(d.parent) // its parent's listing removes it
			default:
				c.markDirty(d) // the kubepods cgroup itself gone: its listing fails
			}
		}
	}
	for _, d := range c.dirty {
		d.dirty = false
		if !d.dead {
			c.relist(d)
		}
	}
	c.dirty = c.dirty[:0]
}

func (c *Collector) markDirty(d *dir) {
	if !d.dirty {
		d.dirty = true
		c.dirty = append(c.dirty, d)
	}
}

// markAll marks d and every directory below it, parents first.
func (c *Collector) markAll(d *dir) {
	if d == nil {
		return
	}
	c.markDirty(d)
	for _, s := range d.subs {
		c.markAll(s)
	}
}

// relist lists d and reconciles its children with the listing: new QoS and pod cgroups are
// watched and listed at once, new containers added, vanished ones removed.
func (c *Collector) relist(d *dir) {
	mount := c.lay.mounts[c.lay.primary]
	c.st.DirsListed++
	c.r.resetNames()
	if err := c.r.listDirs(c.r.setPath(mount, d.rel)); err != nil {
		if !isGone(err) {
			c.noteErr(&c.st.ReadErrors, "list "+mount+d.rel, err)
		}
		c.removeDir(d)
		return
	}
	c.gen++
	gen := c.gen
	var fresh []*dir
	for i := range c.r.numNames() {
		name := c.r.name(i)
		if d.kind == kindPod {
			if ct := d.pod.containers[string(name)]; ct != nil {
				ct.seen = gen
				continue
			}
			if id, ok := containerID(name); ok {
				c.addContainer(d.pod, string(name), string(id)).seen = gen
			}
			continue
		}
		if s := d.subs[string(name)]; s != nil {
			s.seen = gen
			continue
		}
		kind, qos, uid, ok := classify(d, name)
		if !ok {
			continue
		}
		s := &dir{name: string(name), rel: d.rel + "/" + string(name), kind: kind, qos: qos, wd: -1, parent: d, seen: gen}
		if kind == kindPod {
			s.pod = &pod{uid: uid, rel: s.rel, qos: qos, containers: map[string]*container{}, net: podNet{procsFD: -1, netFD: -1}}
			c.changed = true
		} else {
			s.subs = map[string]*dir{}
		}
		d.subs[s.name] = s
		c.watch(s) // before listing it, so nothing created in between is missed
		fresh = append(fresh, s)
	}
	if d.kind == kindPod {
		for _, ct := range d.pod.containers {
			if ct.seen != gen {
				c.removeContainer(ct)
			}
		}
	} else {
		for _, s := range d.subs {
			if s.seen != gen {
				c.removeDir(s)
			}
		}
	}
	for _, s := range fresh {
		if !s.dead {
			c.relist(s)
		}
	}
}

// watch adds an inotify watch on d. When the kernel refuses one (the watch limit), the collector
// stops watching and lists every directory on every pass instead.
func (c *Collector) watch(d *dir) {
	if c.w == nil {
		return
	}
	wd, err := c.w.add(c.lay.mounts[c.lay.primary] + d.rel)
	switch {
	case err == nil:
		d.wd = wd
		c.wds[wd] = d
	case isGone(err): // its listing will find it gone
	default:
		c.stopWatching()
	}
}

func (c *Collector) stopWatching() {
	if c.w == nil {
		return
	}
	c.w.close()
	c.w = nil
	for _, d := range c.wds {
		d.wd = -1
	}
	clear(c.wds)
}

func (c *Collector) addContainer(p *pod, name, id string) *container {
	ct := &container{name: name, id: id, rel: p.rel + "/" + name, pod: p, slot: c.slots}
	c.slots++
	ct.fds = make([]int32, len(c.lay.files))
	for i := range ct.fds {
		ct.fds[i] = -1
	}
	p.containers[name] = ct
	c.changed = true
	return ct
}

// removeContainer forgets ct and closes its files.
func (c *Collector) removeContainer(ct *container) {
	if ct.dead {
		return
	}
	ct.dead = true
	for i, fd := range ct.fds {
		if fd >= 0 {
			closeFile(int(fd))
			ct.fds[i] = -1
			c.held--
		}
	}
	if ct.pod.net.src == ct {
		c.resetProcs(ct.pod)
	}
	delete(ct.pod.containers, ct.name)
	c.changed = true
}

// removeDir forgets d and everything below it.
func (c *Collector) removeDir(d *dir) {
	if d.dead {
		return
	}
	d.dead = true
	for _, s := range d.subs {
		c.removeDir(s)
	}
	if d.pod != nil {
		for _, ct := range d.pod.containers {
			c.removeContainer(ct)
		}
		c.resetNet(d.pod)
	}
	if d.wd >= 0 && c.w != nil {
		c.w.remove(d.wd)
		delete(c.wds, d.wd)
	}
	if d.parent != nil {
		delete(d.parent.subs, d.name)
	}
	if d == c.kp {
		c.kp = nil
	}
	c.changed = true
}

// rebuildOrder sorts the containers by cgroup path, which keeps each pod's containers together.
func (c *Collector) rebuildOrder() {
	c.changed = false
	c.order = c.order[:0]
	c.pods = c.pods[:0]
	var walk func(d *dir)
	walk = func(d *dir) {
		for _, s := range d.subs {
			walk(s)
		}
		if d.pod != nil {
			for _, ct := range d.pod.containers {
				c.order = append(c.order, ct)
			}
		}
	}
	if c.kp != nil {
		walk(c.kp)
	}
	slices.SortFunc(c.order, func(a, b *container) int { return strings.Compare(a.rel, b.rel) })
	for _, ct := range c.order {
		p := ct.pod
		if len(c.pods) == 0 || c.pods[len(c.pods)-1] != p {
			c.pods = append(c.pods, p)
			p.list = p.list[:0]
		}
		p.list = append(p.list, ct)
	}
}

// classify names a child of the kubepods cgroup or of a QoS cgroup, for both drivers:
// cgroupfs "burstable", "besteffort", "pod<uid>"; systemd "kubepods-burstable.slice",
// "kubepods-pod<uid_with_underscores>.slice", "kubepods-burstable-pod<uid>.slice". Pods directly
// under kubepods are guaranteed.
func classify(parent *dir, name []byte) (kind dirKind, qos nwv1.QOSClass, uid string, ok bool) {
	if parent.kind == kindKubepods {
		switch {
		case string(name) == "burstable" || bytes.HasSuffix(name, []byte("-burstable.slice")):
			return kindQoS, nwv1.QOSClass_QOS_CLASS_BURSTABLE, "", true
		case string(name) == "besteffort" || bytes.HasSuffix(name, []byte("-besteffort.slice")):
			return kindQoS, nwv1.QOSClass_QOS_CLASS_BEST_EFFORT, "", true
		}
	}
	uid, ok = podUID(name)
	if !ok {
		return 0, 0, "", false
	}
	qos = parent.qos
	if parent.kind == kindKubepods {
		qos = nwv1.QOSClass_QOS_CLASS_GUARANTEED
	}
	return kindPod, qos, uid, true
}

// podUID returns the pod UID in a pod cgroup's name, with dashes as Kubernetes spells it (the
// systemd driver replaces them with underscores).
func podUID(name []byte) (string, bool) {
	var u []byte
	switch {
	case bytes.HasSuffix(name, []byte(".slice")):
		i := bytes.LastIndex(name, []byte("-pod"))
		if i < 0 {
			return "", false
		}
		u = name[i+4 : len(name)-len(".slice")]
	case bytes.HasPrefix(name, []byte("pod")):
		u = name[3:]
	default:
		return "", false
	}
	if len(u) == 0 || len(u) > 64 {
		return "", false
	}
	out := make([]byte, len(u))
	for i, ch := range u {
		switch {
		case ch == '_':
			ch = '-'
		case ch == '-' || ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F':
		default:
			return "", false
		}
		out[i] = ch
	}
	return string(out), true
}

// containerID returns the container id in a container cgroup's name: "<id>" (cgroupfs),
// "crio-<id>", or a systemd scope "cri-containerd-<id>.scope", "crio-<id>.scope",
// "docker-<id>.scope". CRI-O's "crio-conmon-<id>" holds its monitor, not the container.
func containerID(name []byte) ([]byte, bool) {
	name = bytes.TrimSuffix(name, []byte(".scope"))
	if bytes.HasPrefix(name, []byte("crio-conmon-")) {
		return nil, false
	}
	if i := bytes.LastIndexByte(name, '-'); i >= 0 {
		name = name[i+1:]
	}
	if len(name) < 12 || len(name) > 128 {
		return nil, false
	}
	for _, ch := range name {
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f') {
			return nil, false
		}
	}
	return name, true
}

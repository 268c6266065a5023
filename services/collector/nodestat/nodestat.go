// Package nodestat reads a node's resource sample from a host root, as node_exporter reads its
// CPU, load, memory, pressure, filesystem, network, uptime and boot id collectors: /proc/stat
// (CPU per mode in cumulative seconds, and cores), /proc/loadavg, /proc/meminfo, /proc/pressure
// where the kernel has PSI, statfs of the configured mount points (device and type from the host's
// mount table), /proc/net/dev, /proc/uptime and the boot id. Everything is read under
// Options.Root, so tests run over testdata/ trees that copy real files. A file that cannot be read
// or does not parse leaves its part of the sample empty and is counted, never a panic; a missing
// /proc/pressure is simply no pressure. Buffers are reused between reads, and a hung statfs (a
// dead NFS server) is given up after a timeout and then skipped until it returns.
//
// Interfaces: every interface of /proc/net/dev is kept, loopback included, as node_exporter
// does by default (its device filter is opt-in); Options.ExcludeInterfaces drops some. The file
// is the reading process's network namespace, so the collector runs with the host's network, as
// node_exporter's DaemonSet does.
package nodestat

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Options configure a Reader.
type Options struct {
	// Root is the host's root as the collector sees it ("/" or, in a container, e.g. "/host");
	// "" means "/".
	Root string
	// Mounts are the mount points whose usage is sampled, as paths on the host ("/",
	// "/var/lib/kubelet"); a path that is not itself a mount point reports the filesystem holding
	// it. None when empty.
	Mounts []string
	// ExcludeInterfaces drops the interfaces whose name matches (e.g. "^(veth|cali)"); nil keeps all.
	ExcludeInterfaces *regexp.Regexp
	// StatfsTimeout bounds each statfs (5 s when zero).
	StatfsTimeout time.Duration
}

// Stats count what went wrong in one Read, for the caller's metrics.
type Stats struct {
	// ReadErrors counts files that could not be read (other than an absent /proc/pressure) and
	// mounts whose statfs failed or timed out.
	ReadErrors int
	// ParseErrors counts files that were read but did not parse.
	ParseErrors int
	// StuckMounts counts mounts skipped because a timed-out statfs has not returned yet.
	StuckMounts int
}

// Reader reads node samples. It reuses buffers between reads, so one Reader must not be used by
// two goroutines at once.
type Reader struct {
	paths         paths
	mounts        []*mount
	exclude       *regexp.Regexp
	statfsTimeout time.Duration
	statfsFn      func(string, *syscall.Statfs_t) error // syscall.Statfs; tests replace it
	timer         *time.Timer

	buf    []byte
	f      [][]byte
	bootID string
	names  map[string]string // interned interface names
}

type paths struct {
	stat, loadavg, meminfo, uptime, bootID, netDev string
	pressure                                       [3]string // cpu, memory, io
	mountTables                                    [3]string // 1/mountinfo, self/mountinfo, mounts
}

// New makes a Reader.
func New(opts Options) *Reader {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	proc := func(p string) string { return filepath.Join(root, "proc", p) }
	r := &Reader{
		paths: paths{
			stat:     proc("stat"),
			loadavg:  proc("loadavg"),
			meminfo:  proc("meminfo"),
			uptime:   proc("uptime"),
			bootID:   proc("sys/kernel/random/boot_id"),
			netDev:   proc("net/dev"),
			pressure: [3]string{proc("pressure/cpu"), proc("pressure/memory"), proc("pressure/io")},
			// PID 1's table is the host's mount namespace, which a containerised collector's own
			// (self) is not; node_exporter reads it for the same reason.
			mountTables: [3]string{proc("1/mountinfo"), proc("self/mountinfo"), proc("mounts")},
		},
		exclude:       opts.ExcludeInterfaces,
		statfsTimeout: opts.StatfsTimeout,
		statfsFn:      syscall.Statfs,
		timer:         time.NewTimer(time.Hour),
		buf:           make([]byte, 0, 16<<10),
		f:             make([][]byte, 0, 32),
		names:         map[string]string{},
	}
	r.timer.Stop()
	if r.statfsTimeout <= 0 {
		r.statfsTimeout = defaultStatfsTimeout
	}
	for _, p := range opts.Mounts {
		p = filepath.Clean("/" + p)
		r.mounts = append(r.mounts, &mount{point: p, path: filepath.Join(root, p)})
	}
	return r
}

// Read reads one sample. The node, time and sequence are the caller's to set. The sample holds
// whatever could be read; the error joins what could not (nil when everything was read) and Stats
// count it.
func (r *Reader) Read() (*nwv1.NodeSample, Stats, error) {
	var (
		s    = &nwv1.NodeSample{}
		st   Stats
		errs []error
	)
	fail := func(path string, err error) {
		if errors.Is(err, errMalformed) {
			st.ParseErrors++
			errs = append(errs, fmt.Errorf("parse %s: %w", path, err))
			return
		}
		st.ReadErrors++
		errs = append(errs, fmt.Errorf("read %s: %w", path, err))
	}
	// load reads path and hands it to parse; false (and counted) when either fails.
	load := func(path string, parse func([]byte) error) bool {
		b, err := r.read(path)
		if err == nil {
			err = parse(b)
		}
		if err != nil {
			fail(path, err)
			return false
		}
		return true
	}

	load(r.paths.stat, func(b []byte) (err error) { s.Cpu, err = parseStat(b, r.f); return })
	load(r.paths.loadavg, func(b []byte) (err error) { s.Load, err = parseLoadavg(b, r.f); return })
	load(r.paths.meminfo, func(b []byte) (err error) { s.Memory, err = parseMeminfo(b, r.f); return })
	load(r.paths.uptime, func(b []byte) (err error) { s.UptimeSeconds, err = parseUptime(b, r.f); return })
	load(r.paths.bootID, func(b []byte) error {
		id, err := parseBootID(b)
		if err != nil {
			return err
		}
		if string(id) != r.bootID { // the same string every read until a reboot
			r.bootID = string(id)
		}
		s.BootId = r.bootID
		return nil
	})
	load(r.paths.netDev, func(b []byte) (err error) { s.Networks, err = r.networks(b); return })
	s.Pressure = r.pressure(fail)
	s.Filesystems = r.filesystems(fail, &st)
	return s, st, errors.Join(errs...)
}

// pressure reads the three PSI files; nil when none exists (kernels before 4.20, or psi=0).
func (r *Reader) pressure(fail func(string, error)) *nwv1.PressureStats {
	var p nwv1.PressureStats
	found := false
	for i, path := range r.paths.pressure {
		b, err := r.read(path)
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EOPNOTSUPP) {
			continue // no PSI: not an error (psi=0 leaves the files, which then refuse reads)
		}
		var some, full *nwv1.PressureLine
		if err == nil {
			some, full, err = parsePressure(b, r.f)
		}
		if err != nil {
			fail(path, err)
			continue
		}
		found = true
		switch i {
		case 0:
			p.CpuSome = some // the system-wide cpu "full" line is defined as zero
		case 1:
			p.MemorySome, p.MemoryFull = some, full
		case 2:
			p.IoSome, p.IoFull = some, full
		}
	}
	if !found {
		return nil
	}
	return &p
}

// networks parses /proc/net/dev, interning interface names and dropping excluded ones.
func (r *Reader) networks(b []byte) ([]*nwv1.NetworkStats, error) {
	nets, err := parseNetDev(b, r.f, r.intern)
	if err != nil {
		return nil, err
	}
	if r.exclude != nil {
		kept := nets[:0]
		for _, n := range nets {
			if !r.exclude.MatchString(n.Interface) {
				kept = append(kept, n)
			}
		}
		nets = kept
	}
	// Interfaces come and go (a veth per pod); forget the old names now and then.
	if len(r.names) > 2*len(nets)+64 {
		clear(r.names)
	}
	return nets, nil
}

func (r *Reader) intern(b []byte) string {
	if s, ok := r.names[string(b)]; ok {
		return s
	}
	s := string(b)
	r.names[s] = s
	return s
}

// filesystems samples the configured mounts.
func (r *Reader) filesystems(fail func(string, error), st *Stats) []*nwv1.FilesystemStats {
	if len(r.mounts) == 0 {
		return nil
	}
	r.mountTable(fail)
	var out []*nwv1.FilesystemStats
	for _, m := range r.mounts {
		sfs, err := r.statfs(m)
		switch {
		case errors.Is(err, errStuck):
			st.StuckMounts++
			// Not through fail: that would count a read error for every read the call hangs.
			continue
		case err != nil:
			fail(m.path, fmt.Errorf("statfs: %w", err))
			continue
		}
		out = append(out, filesystem(m, &sfs))
	}
	return out
}

// mountTable sets each mount's device and type from the first mount table that can be read.
func (r *Reader) mountTable(fail func(string, error)) {
	for _, m := range r.mounts {
		m.matched = -1
	}
	var firstErr error
	for i, path := range r.paths.mountTables {
		b, err := r.read(path)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if i < 2 {
			err = parseMountinfo(b, r.f, r.mounts)
		} else {
			err = parseMounts(b, r.f, r.mounts)
		}
		if err != nil {
			fail(path, err)
		}
		firstErr = nil
		break
	}
	if firstErr != nil {
		fail(r.paths.mountTables[0], firstErr)
	}
	for _, m := range r.mounts {
		if m.matched < 0 {
			m.device, m.fstype = "", ""
		}
	}
}

// read reads a whole file into the reader's buffer, valid until the next read. procfs files are
// read with plain syscalls: no poller registration or fstat that os.Open would add.
func (r *Reader) read(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, 0)[:len(r.buf)]
		}
		n, err := syscall.Read(fd, r.buf[len(r.buf):cap(r.buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, err
		case n == 0:
			return r.buf, nil
		}
		r.buf = r.buf[:len(r.buf)+n]
	}
}

//go:build linux

package cgroups

import (
	"encoding/binary"
	"errors"
	"syscall"
	"unsafe"
)

// The system calls the collector makes thousands of times a pass, done directly: os.Open copies
// the path into a new string, registers every cgroup file with the poller (kernfs files are
// pollable, so that is two epoll_ctl calls per file) and os.ReadFile adds an fstat. On the
// machine measured, os.ReadFile of a cgroup file cost ~25 µs, a raw open+read+close ~10 µs and a
// pread of a file kept open 1–3 µs.

const (
	oPath      = 0x200000 // O_PATH, which package syscall does not define
	inotifyDir = syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO |
		syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF | syscall.IN_ONLYDIR
)

var atFDCWD = -100 // AT_FDCWD; a variable, as a negative constant cannot convert to uintptr

// openFile opens the NUL-terminated path p.
func openFile(p []byte, flags int) (int, error) {
	for {
		fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(atFDCWD),
			uintptr(unsafe.Pointer(&p[0])), uintptr(flags|syscall.O_CLOEXEC), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}

func preadFile(fd int, b []byte, off int64) (int, error) {
	for {
		n, err := syscall.Pread(fd, b, off)
		if err == syscall.EINTR {
			continue
		}
		return n, err
	}
}

func closeFile(fd int) { _ = syscall.Close(fd) }

// dirExists reports whether the NUL-terminated path p is a directory, without opening it for
// reading (O_PATH).
func dirExists(p []byte) bool {
	fd, err := openFile(p, oPath|syscall.O_DIRECTORY)
	if err != nil {
		return false
	}
	closeFile(fd)
	return true
}

// fdIno is the inode number of an open file.
func fdIno(fd int) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// listDirs appends the names of the subdirectories of the NUL-terminated path p to r's name
// arena, with one getdents64 buffer reused across calls.
func (r *reader) listDirs(p []byte) error {
	fd, err := openFile(p, syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer closeFile(fd)
	if r.dents == nil {
		r.dents = make([]byte, 32<<10)
	}
	for {
		n, err := syscall.Getdents(fd, r.dents)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
		for b := r.dents[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return errors.New("getdents: bad record length")
			}
			typ, name := b[18], b[19:reclen]
			if i := indexNUL(name); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			// DT_UNKNOWN comes from file systems that do not fill d_type; the names are
			// checked against cgroup naming later, and a non-directory fails to open as one.
			if (typ != syscall.DT_DIR && typ != syscall.DT_UNKNOWN) || string(name) == "." || string(name) == ".." {
				continue
			}
			r.addName(name)
		}
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// openFilesLimit is the process's soft RLIMIT_NOFILE (Go raises it to the hard limit at start).
func openFilesLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 30
	}
	return int(rl.Cur)
}

func isGone(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENOTDIR)
}

func isTooManyFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// watcher reports the creation and removal of cgroup directories with inotify, so a pass lists no
// directory when nothing changed. Directory mtimes cannot replace it: kernfs updates a directory's
// mtime on mkdir only once its attributes were set, which kubelet and runc do not do.
type watcher struct {
	fd  int
	buf []byte
}

type watchEvent struct {
	wd   int
	mask uint32
}

func newWatcher() (*watcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &watcher{fd: fd, buf: make([]byte, 64<<10)}, nil
}

func (w *watcher) add(path string) (int, error) {
	return syscall.InotifyAddWatch(w.fd, path, inotifyDir)
}

func (w *watcher) remove(wd int) { _, _ = syscall.InotifyRmWatch(w.fd, uint32(wd)) }

func (w *watcher) close() { closeFile(w.fd) }

// drain appends every pending event to evs without blocking; overflow reports that the kernel
// dropped events, so only a full rescan is safe.
func (w *watcher) drain(evs []watchEvent) (_ []watchEvent, overflow bool, err error) {
	for {
		n, err := syscall.Read(w.fd, w.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return evs, overflow, nil
		}
		if err != nil {
			return evs, overflow, err
		}
		if n <= 0 {
			return evs, overflow, nil
		}
		// struct inotify_event: s32 wd, u32 mask, u32 cookie, u32 len, char name[len].
		for b := w.buf[:n]; len(b) >= 16; {
			wd := int(int32(binary.NativeEndian.Uint32(b[0:4])))
			mask := binary.NativeEndian.Uint32(b[4:8])
			l := int(binary.NativeEndian.Uint32(b[12:16]))
			if 16+l > len(b) {
				break
			}
			b = b[16+l:]
			if mask&syscall.IN_Q_OVERFLOW != 0 {
				overflow = true
				continue
			}
			// Files come and go in test trees; only directories are cgroups.
			if mask&(syscall.IN_CREATE|syscall.IN_DELETE|syscall.IN_MOVED_FROM|syscall.IN_MOVED_TO) != 0 &&
				mask&syscall.IN_ISDIR == 0 {
				continue
			}
			evs = append(evs, watchEvent{wd: wd, mask: mask})
		}
	}
}

// selfGone reports whether an event says the watched directory itself is gone.
func (e watchEvent) selfGone() bool {
	return e.mask&(syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF|syscall.IN_IGNORED) != 0
}

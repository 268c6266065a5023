package cgroups

import (
	"errors"
	"syscall"
)

// maxFile bounds one file's size: the largest the collector reads (v1 blkio with many devices,
// /proc/<pid>/net/dev of a pod with many interfaces) stay far below it.
const maxFile = 1 << 20

var errTooLarge = errors.New("file larger than 1 MiB")

const oRead = syscall.O_RDONLY

// reader holds the buffers a pass reuses: the path being built, the last file's contents and the
// names of the last directory listed.
type reader struct {
	path  []byte // NUL-terminated
	buf   []byte
	dents []byte
	arena []byte  // names of the last listDirs, back to back
	ends  []int32 // end offset of each name in arena
}

func newReader() reader {
	return reader{path: make([]byte, 0, 512), buf: make([]byte, 16<<10)}
}

// setPath makes r.path the concatenation of parts, NUL-terminated for the kernel.
func (r *reader) setPath(parts ...string) []byte {
	p := r.path[:0]
	for _, s := range parts {
		p = append(p, s...)
	}
	r.path = append(p, 0)
	return r.path
}

// pathString is r.path without its NUL, for error messages.
func (r *reader) pathString() string { return string(r.path[:len(r.path)-1]) }

// readFD reads fd from offset 0. A pread at offset 0 makes a kernfs (cgroup) or proc seq_file
// generate its contents afresh, so one open file serves every pass. A short read means the end:
// seq_file fills the whole buffer while more remains, and so do regular files.
func (r *reader) readFD(fd int) ([]byte, error) {
	n := 0
	for {
		m, err := preadFile(fd, r.buf[n:], int64(n))
		if err != nil {
			return nil, err
		}
		n += m
		if m == 0 || n < len(r.buf) {
			return r.buf[:n], nil
		}
		if len(r.buf) >= maxFile {
			return nil, errTooLarge
		}
		r.buf = append(r.buf, make([]byte, len(r.buf))...)
	}
}

// readPath opens, reads and closes the path last set with setPath.
func (r *reader) readPath() ([]byte, error) {
	fd, err := openFile(r.path, oRead)
	if err != nil {
		return nil, err
	}
	defer closeFile(fd)
	return r.readFD(fd)
}

func (r *reader) resetNames() {
	r.arena = r.arena[:0]
	r.ends = r.ends[:0]
}

func (r *reader) addName(name []byte) {
	r.arena = append(r.arena, name...)
	r.ends = append(r.ends, int32(len(r.arena)))
}

func (r *reader) numNames() int { return len(r.ends) }

func (r *reader) name(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.arena[start:r.ends[i]]
}

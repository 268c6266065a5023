package nodestat

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/collector/internal/bytesparse"
)

// mount is one configured mount point and what the reader keeps about it between reads.
type mount struct {
	point string // as configured: a path in the host's mount namespace, e.g. "/var/lib/kubelet"
	path  string // Root + point, what statfs is called on
	// Device and type of the filesystem holding point, from the last mount table read.
	device, fstype string
	matched        int // length of the mount point that matched, for the longest-prefix rule
	// inflight is set while a statfs that timed out has not returned: a hung NFS mount blocks
	// statfs forever, and a second call would only pile up another blocked thread.
	inflight chan statfsResult
}

type statfsResult struct {
	st  syscall.Statfs_t
	err error
}

// errStuck is the error of a mount skipped because an earlier statfs has not returned.
var errStuck = errors.New("statfs from an earlier read has not returned")

// statfs calls statfs on m.path, giving up after timeout and then skipping the mount until the
// hung call returns.
func (r *Reader) statfs(m *mount) (syscall.Statfs_t, error) {
	if m.inflight != nil {
		select {
		case <-m.inflight: // the hung call is back; its result is stale, so ask again
			m.inflight = nil
		default:
			return syscall.Statfs_t{}, errStuck
		}
	}
	ch := make(chan statfsResult, 1)
	statfs, path := r.statfsFn, m.path
	go func() {
		var res statfsResult
		res.err = statfs(path, &res.st)
		ch <- res
	}()
	r.timer.Reset(r.statfsTimeout)
	select {
	case res := <-ch:
		r.timer.Stop()
		return res.st, res.err
	case <-r.timer.C:
		m.inflight = ch
		return syscall.Statfs_t{}, fmt.Errorf("timed out after %v", r.statfsTimeout)
	}
}

// filesystem builds the sample of a mount from its statfs, as node_exporter computes its
// node_filesystem_* values (blocks times f_bsize).
func filesystem(m *mount, st *syscall.Statfs_t) *nwv1.FilesystemStats {
	bsize := uint64(st.Bsize)
	return &nwv1.FilesystemStats{
		Mountpoint: m.point,
		Device:     m.device,
		Fstype:     m.fstype,
		SizeBytes:  st.Blocks * bsize,
		FreeBytes:  st.Bfree * bsize,
		AvailBytes: st.Bavail * bsize,
		Files:      st.Files,
		FilesFree:  st.Ffree,
	}
}

// matchMounts sets each mount's device and type from a mount table line's mount point, source
// and type: the longest mount point that is the path or one of its parents wins (a configured
// path need not be a mount point itself), and of equal ones the later, as the later mount hides
// the earlier.
func matchMounts(mounts []*mount, point, source, fstype []byte) {
	for _, m := range mounts {
		if !covers(point, m.point) || len(point) < m.matched {
			continue
		}
		m.matched = len(point)
		if m.device != string(source) {
			m.device = string(source)
		}
		if m.fstype != string(fstype) {
			m.fstype = string(fstype)
		}
	}
}

// covers tells whether mount point mp is path or one of its parents.
func covers(mp []byte, path string) bool {
	if string(mp) == "/" {
		return true
	}
	return strings.HasPrefix(path, string(mp)) && (len(path) == len(mp) || path[len(mp)] == '/')
}

// parseMountinfo reads /proc/<pid>/mountinfo lines: "id parent major:minor root mountpoint
// options [optional fields...] - fstype source superoptions".
func parseMountinfo(b []byte, f [][]byte, mounts []*mount) error {
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		if len(line) == 0 {
			continue
		}
		f = bytesparse.Fields(line, f)
		sep := -1
		for i := 6; i < len(f); i++ {
			if len(f[i]) == 1 && f[i][0] == '-' {
				sep = i
				break
			}
		}
		if len(f) < 10 || sep < 0 || sep+3 > len(f) {
			return malformed("mountinfo line %q", line)
		}
		matchMounts(mounts, unescape(f[4]), f[sep+2], f[sep+1])
	}
	return nil
}

// parseMounts reads /proc/mounts lines ("source mountpoint fstype options dump pass"), for
// kernels or roots without mountinfo.
func parseMounts(b []byte, f [][]byte, mounts []*mount) error {
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		if len(line) == 0 {
			continue
		}
		f = bytesparse.Fields(line, f)
		if len(f) < 4 {
			return malformed("mounts line %q", line)
		}
		matchMounts(mounts, unescape(f[1]), unescape(f[0]), f[2])
	}
	return nil
}

// unescape undoes the kernel's octal escapes of space, tab, newline and backslash ("\040").
func unescape(b []byte) []byte {
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && isOctal(b[i+1]) && isOctal(b[i+2]) && isOctal(b[i+3]) {
			out = append(out, (b[i+1]-'0')<<6|(b[i+2]-'0')<<3|(b[i+3]-'0'))
			i += 3
			continue
		}
		out = append(out, b[i])
	}
	return out
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// defaultStatfsTimeout bounds one statfs (Options.StatfsTimeout).
const defaultStatfsTimeout = 5 * time.Second

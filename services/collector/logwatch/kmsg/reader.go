package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// ErrOverrun is returned by ReadLine when the kernel overwrote records before they were read
// (the device's EPIPE). Reading goes on with the oldest record still in the ring buffer.
var ErrOverrun = errors.New("kmsg: records overwritten before they were read")

// ErrClosed is returned by ReadLine once Close was called.
var ErrClosed = errors.New("kmsg: reader closed")

// minRead is the room a read of the device needs: the kernel refuses (EINVAL) a read smaller
// than the record it would return, which is at most 8 KiB of text plus its dictionary.
const minRead = 16 << 10

// DefaultPoll is how often a plain file or a pipe at its end is read again.
const DefaultPoll = 50 * time.Millisecond

// Reader reads record lines from /dev/kmsg, or from a plain file or pipe holding such lines.
// It is not safe for concurrent use, except Close, which may be called from any goroutine to
// stop a ReadLine that waits.
type Reader struct {
	// Poll is the wait before reading again at the end of a plain file or an idle pipe (the
	// device and pipes wake a blocked read by themselves; plain files cannot).
	Poll time.Duration

	f     io.ReadCloser
	name  string
	buf   []byte
	r, w  int // unread bytes are buf[r:w]
	done  chan struct{}
	close sync.Once
}

// Open opens the device (or file) at path for reading from its oldest record.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return NewReader(f, path), nil
}

// NewReader reads records from f, which behaves like the device: each Read returns whole
// lines or part of a stream of lines, io.EOF or no bytes at the current end, and an error
// matching syscall.EPIPE after an overrun. name is used in errors.
func NewReader(f io.ReadCloser, name string) *Reader {
	return &Reader{Poll: DefaultPoll, f: f, name: name, buf: make([]byte, 4*minRead), done: make(chan struct{})}
}

// Close closes the reader; a ReadLine waiting for records returns ErrClosed.
func (r *Reader) Close() error {
	err := os.ErrClosed
	r.close.Do(func() {
		close(r.done)
		err = r.f.Close()
	})
	return err
}

// ReadLine returns the next record line without its newline, skipping the dictionary lines
// (" KEY=value") that follow a record. The line is valid until the next call. It waits for a
// record when there is none. A line longer than the buffer (possible in a file, never from
// the device) is returned cut in pieces, which then fail to parse.
func (r *Reader) ReadLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.r:r.w], '\n'); i >= 0 {
			line := r.buf[r.r : r.r+i]
			r.r += i + 1
			if len(line) == 0 || line[0] == ' ' {
				continue // a dictionary line belongs to the record before it
			}
			return line, nil
		}
		if len(r.buf)-r.w < minRead {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
			if len(r.buf)-r.w < minRead {
				line := r.buf[:r.w]
				r.r, r.w = 0, 0
				return line, nil
			}
		}
		n, err := r.f.Read(r.buf[r.w:])
		r.w += n
		switch {
		case errors.Is(err, syscall.EPIPE):
			return nil, ErrOverrun
		case errors.Is(err, os.ErrClosed) || r.closed():
			return nil, ErrClosed
		case err == io.EOF || (err == nil && n == 0):
			if !r.wait() {
				return nil, ErrClosed
			}
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", r.name, err)
		}
	}
}

func (r *Reader) closed() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// wait sleeps a poll interval, or until Close; it reports whether to go on.
func (r *Reader) wait() bool {
	t := time.NewTimer(r.Poll)
	defer t.Stop()
	select {
	case <-r.done:
		return false
	case <-t.C:
		return true
	}
}

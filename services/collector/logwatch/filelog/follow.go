package filelog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrClosed is returned by Next once Close was called.
var ErrClosed = errors.New("filelog: follower closed")

// Position is a place in a file that survives renames: the file's identity and a byte offset.
type Position struct {
	Dev    uint64 `json:"dev"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// SameFile reports whether p and q are in the same file.
func (p Position) SameFile(q Position) bool { return p.Dev == q.Dev && p.Inode == q.Inode }

// MaxLine is the longest line returned whole; a longer one is returned in pieces.
const MaxLine = 1 << 20

// DefaultPoll is how often the end of the file is checked for new lines, rotation and
// truncation.
const DefaultPoll = 100 * time.Millisecond

// Follower reads the lines of a file as they are written, through rotation and truncation.
// It is not safe for concurrent use, except Close.
type Follower struct {
	// Poll is the wait at the end of the file before looking again.
	Poll time.Duration

	path    string
	f       *os.File
	rd      *bufio.Reader
	pos     Position // after the last byte taken from rd
	partial []byte   // the start of a line whose newline has not been written yet
	line    []byte
	done    chan struct{}
	close   sync.Once
	mu      sync.Mutex // guards f against Close
}

// Follow starts following path. With a nil from it reads the current file from its start.
// Otherwise it resumes at from: in the same file when path still is that file (from the start
// if the file is now shorter, i.e. it was truncated), or in the rotated copy of it found in
// the same directory (kern.log.1), going on to the new file at path after that; when neither
// exists the file at path is new since from and is read from its start. If path does not exist
// yet, Follow returns an error matching fs.ErrNotExist and the caller may try again later.
func Follow(path string, from *Position) (*Follower, error) {
	fl := &Follower{Poll: DefaultPoll, path: path, done: make(chan struct{})}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	cur := identity(info)
	name, offset := path, int64(0)
	if from != nil {
		switch {
		case from.SameFile(cur):
			if from.Offset <= info.Size() {
				offset = from.Offset
			}
		default:
			if old, size, ok := findRotated(path, *from); ok && from.Offset <= size {
				name, offset = old, from.Offset
			}
		}
	}
	if err := fl.open(name, offset); err != nil {
		return nil, err
	}
	return fl, nil
}

// findRotated looks in path's directory for the file that was at path when pos was taken.
func findRotated(path string, pos Position) (string, int64, bool) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, false
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err == nil && identity(info).SameFile(pos) {
			return filepath.Join(dir, e.Name()), info.Size(), true
		}
	}
	return "", 0, false
}

func (fl *Follower) open(name string, offset int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err == nil && offset > 0 {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("open %s at %d: %w", name, offset, err)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed() {
		f.Close()
		return ErrClosed
	}
	if fl.f != nil {
		fl.f.Close()
	}
	fl.f = f
	fl.pos = identity(info)
	fl.pos.Offset = offset
	if fl.rd == nil {
		fl.rd = bufio.NewReaderSize(f, 64<<10)
	} else {
		fl.rd.Reset(f)
	}
	fl.partial = fl.partial[:0]
	return nil
}

// Close stops the follower; a Next waiting for lines returns ErrClosed.
func (fl *Follower) Close() error {
	err := os.ErrClosed
	fl.close.Do(func() {
		close(fl.done)
		fl.mu.Lock()
		err = fl.f.Close()
		fl.mu.Unlock()
	})
	return err
}

func (fl *Follower) closed() bool {
	select {
	case <-fl.done:
		return true
	default:
		return false
	}
}

// Next returns the next whole line, without its newline, and the position just after it. The
// line is valid until the next call. It waits for a line when there is none.
func (fl *Follower) Next() ([]byte, Position, error) {
	for {
		if fl.closed() {
			return nil, Position{}, ErrClosed
		}
		chunk, err := fl.rd.ReadSlice('\n')
		fl.pos.Offset += int64(len(chunk))
		switch {
		case err == nil:
			chunk = chunk[:len(chunk)-1]
			if len(fl.partial) == 0 {
				return chunk, fl.pos, nil // the common case: no copy
			}
			fl.line = append(append(fl.line[:0], fl.partial...), chunk...)
			fl.partial = fl.partial[:0]
			return fl.line, fl.pos, nil
		case errors.Is(err, bufio.ErrBufferFull):
			fl.partial = append(fl.partial, chunk...)
			if len(fl.partial) >= MaxLine {
				fl.line = append(fl.line[:0], fl.partial...)
				fl.partial = fl.partial[:0]
				return fl.line, fl.pos, nil
			}
		case err == io.EOF:
			fl.partial = append(fl.partial, chunk...)
			line, ok, err := fl.atEnd()
			if err != nil {
				return nil, Position{}, err
			}
			if ok {
				return line, fl.pos, nil
			}
		default:
			if fl.closed() {
				return nil, Position{}, ErrClosed
			}
			return nil, Position{}, fmt.Errorf("read %s: %w", fl.path, err)
		}
	}
}

// atEnd handles the end of the current file: a truncated file is read again from its start, a
// rotated one is left for the new file at path (its unfinished last line, if any, returned
// first), and otherwise it waits a poll interval.
func (fl *Follower) atEnd() ([]byte, bool, error) {
	if info, err := fl.f.Stat(); err == nil && info.Size() < fl.pos.Offset {
		if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
			return nil, false, fmt.Errorf("rewind truncated %s: %w", fl.path, err)
		}
		fl.rd.Reset(fl.f)
		fl.pos.Offset = 0
		fl.partial = fl.partial[:0]
		return nil, false, nil
	}
	info, err := os.Stat(fl.path)
	switch {
	case err == nil && !identity(info).SameFile(fl.pos):
		if len(fl.partial) > 0 {
			// The old file ended without a newline; nothing will complete this line now.
			fl.line = append(fl.line[:0], fl.partial...)
			fl.partial = fl.partial[:0]
			return fl.line, true, nil
		}
		if err := fl.open(fl.path, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, false, err
		}
		return nil, false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("stat %s: %w", fl.path, err)
	}
	// Between a rotation's rename and the new file (ErrNotExist) keep reading the old one.
	t := time.NewTimer(fl.Poll)
	defer t.Stop()
	select {
	case <-fl.done:
		return nil, false, ErrClosed
	case <-t.C:
		return nil, false, nil
	}
}

//go:build !linux

package cgroups

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
)

// Outside Linux there are no cgroups; these portable versions only let the collector build (and
// read a testdata tree) on a developer's machine. Files are opened, read and closed every time.

const oPath = 0

var errNoWatch = errors.New("directory watching is only implemented on Linux")

var (
	filesMu sync.Mutex
	files   = map[int]*os.File{}
	nextFD  = 3
)

func openFile(p []byte, _ int) (int, error) {
	f, err := os.Open(string(p[:len(p)-1]))
	if err != nil {
		return -1, err
	}
	filesMu.Lock()
	defer filesMu.Unlock()
	nextFD++
	files[nextFD] = f
	return nextFD, nil
}

func preadFile(fd int, b []byte, off int64) (int, error) {
	filesMu.Lock()
	f, ok := files[fd]
	filesMu.Unlock()
	if !ok {
		return 0, fs.ErrClosed
	}
	n, err := f.ReadAt(b, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

func closeFile(fd int) {
	filesMu.Lock()
	defer filesMu.Unlock()
	if f, ok := files[fd]; ok {
		_ = f.Close()
		delete(files, fd)
	}
}

func dirExists(p []byte) bool {
	fi, err := os.Stat(string(p[:len(p)-1]))
	return err == nil && fi.IsDir()
}

func fdIno(int) (uint64, error) { return 0, errNoWatch }

func (r *reader) listDirs(p []byte) error {
	ents, err := os.ReadDir(string(p[:len(p)-1]))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			r.addName([]byte(e.Name()))
		}
	}
	return nil
}

func openFilesLimit() int { return 0 } // hold nothing: the fd table above is not worth growing

func isGone(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func isTooManyFiles(error) bool { return false }

type watcher struct{}

type watchEvent struct {
	wd   int
	mask uint32
}

func newWatcher() (*watcher, error)                                   { return nil, errNoWatch }
func (w *watcher) add(string) (int, error)                            { return 0, errNoWatch }
func (w *watcher) remove(int)                                         {}
func (w *watcher) close()                                             {}
func (w *watcher) drain(evs []watchEvent) ([]watchEvent, bool, error) { return evs, false, nil }
func (e watchEvent) selfGone() bool                                   { return false }

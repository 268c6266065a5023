package logwatch

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/services/collector/logwatch/filelog"
)

const stateVersion = 1

// state is what a watcher saves after each published batch so that a restarted collector
// resumes after the last published line: the last sequence and where that line was read.
type state struct {
	Version  int    `json:"version"`
	Source   string `json:"source"`
	Plugin   string `json:"plugin"`
	LogPath  string `json:"logPath"`
	StreamID string `json:"streamId"`
	// LastSeq is the sequence of the last published line.
	LastSeq uint64 `json:"lastSeq"`
	// BootID (kmsg) is the boot the kernel's sequences belong to.
	BootID string `json:"bootId,omitempty"`
	// File (filelog) is the position after the last published line.
	File *filelog.Position `json:"file,omitempty"`
	// Cursor (journald) is the journal cursor of the last published line.
	Cursor string `json:"cursor,omitempty"`

	resumed bool // loaded from the file: the reader starts after it, not at the lookback
}

// statePath is the state file of a source: one file per source, named by the source's subject
// token, which is safe as a file name.
func statePath(dir, source string) (string, error) {
	if dir == "" {
		return "", nil
	}
	tok, err := subject.Encode(source)
	if err != nil {
		return "", fmt.Errorf("state file for source %q: %w", source, err)
	}
	return filepath.Join(dir, "logwatch-"+tok+".json"), nil
}

// loadState reads a saved state. A missing file gives (nil, nil): nothing was published yet.
func loadState(path string) (*state, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("read state %s: version %d, want %d", path, st.Version, stateVersion)
	}
	return &st, nil
}

// save writes the state atomically: a crash leaves the old file or the new one, never half of
// one (write a temporary file, sync it, rename it over the old one, sync the directory).
func (st *state) save(path string) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save state %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// newStreamID names a fresh sequence of a file or journal reader: its sequences outlive boots,
// so it is random rather than the boot id, and changes only when the state is lost.
func newStreamID(plugin string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return plugin + ":" + hex.EncodeToString(b)
}

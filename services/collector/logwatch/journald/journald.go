// Package journald reads the systemd journal for one syslog identifier, as NPD's journald
// plugin does, by running `journalctl -o json --follow` and reading its JSON lines: journalctl
// is on every systemd host and reads every journal file format, where linking libsystemd
// would tie the collector to one C library. Each entry keeps its cursor so a restarted reader
// goes on with --after-cursor.
package journald

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Entry is one journal entry.
type Entry struct {
	Time time.Time
	// Priority is the syslog severity 0..7, or -1 when the entry has none.
	Priority int32
	// Message is MESSAGE with surrounding white space trimmed, as NPD trims it.
	Message string
	// Cursor locates the entry for --after-cursor.
	Cursor string
}

// ErrMalformed is wrapped by ParseEntry's errors.
var ErrMalformed = errors.New("malformed journal entry")

// ErrExited is wrapped by Next when journalctl ended.
var ErrExited = errors.New("journalctl exited")

type jsonEntry struct {
	Realtime string          `json:"__REALTIME_TIMESTAMP"`
	Cursor   string          `json:"__CURSOR"`
	Priority string          `json:"PRIORITY"`
	Message  json.RawMessage `json:"MESSAGE"`
}

// ParseEntry parses one line of `journalctl -o json`. MESSAGE may be a string, an array of
// bytes (journalctl's form for text that is not valid UTF-8 or holds control characters) or
// null.
func ParseEntry(line []byte) (Entry, error) {
	var j jsonEntry
	if err := json.Unmarshal(line, &j); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	usec, err := strconv.ParseInt(j.Realtime, 10, 64)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: __REALTIME_TIMESTAMP %q", ErrMalformed, j.Realtime)
	}
	if j.Cursor == "" {
		return Entry{}, fmt.Errorf("%w: no __CURSOR", ErrMalformed)
	}
	e := Entry{Time: time.UnixMicro(usec), Priority: -1, Cursor: j.Cursor}
	if p, err := strconv.ParseUint(j.Priority, 10, 8); err == nil && p <= 7 {
		e.Priority = int32(p)
	}
	switch raw := bytes.TrimSpace(j.Message); {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &e.Message); err != nil {
			return Entry{}, fmt.Errorf("%w: MESSAGE: %v", ErrMalformed, err)
		}
	case raw[0] == '[':
		var b []byte
		var ints []int
		if err := json.Unmarshal(raw, &ints); err != nil {
			return Entry{}, fmt.Errorf("%w: MESSAGE: %v", ErrMalformed, err)
		}
		for _, v := range ints {
			if v < 0 || v > 255 {
				return Entry{}, fmt.Errorf("%w: MESSAGE byte %d", ErrMalformed, v)
			}
			b = append(b, byte(v))
		}
		e.Message = string(b)
	default:
		return Entry{}, fmt.Errorf("%w: MESSAGE %.40s", ErrMalformed, raw)
	}
	e.Message = strings.TrimSpace(e.Message)
	return e, nil
}

// Query says which entries to read.
type Query struct {
	// Identifier is the SYSLOG_IDENTIFIER to read (NPD's pluginConfig.source).
	Identifier string
	// Root reads the journals under a host root (journalctl --root); empty or "/" for this
	// host's own.
	Root string
	// Directory reads only the journal files in one directory (journalctl --directory); it
	// takes precedence over Root.
	Directory string
	// AfterCursor starts after this entry; when empty, Since is the start.
	AfterCursor string
	Since       time.Time
}

// Args are journalctl's arguments for q.
func (q Query) Args() []string {
	args := []string{"--output=json", "--follow", "--no-tail", "--no-pager", "--quiet", "--all",
		"--identifier=" + q.Identifier}
	switch {
	case q.Directory != "":
		args = append(args, "--directory="+q.Directory)
	case q.Root != "" && q.Root != "/":
		args = append(args, "--root="+q.Root)
	}
	if q.AfterCursor != "" {
		args = append(args, "--after-cursor="+q.AfterCursor)
	} else {
		// Whole seconds, rounded down: the caller drops the few older entries this lets in.
		args = append(args, fmt.Sprintf("--since=@%d", q.Since.Unix()))
	}
	return args
}

// Reader runs journalctl and reads the entries it prints.
type Reader struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr *tail
	cancel context.CancelFunc
	wait   sync.Once
	err    error
}

// Start runs journalctl (the path of the binary) for q.
func Start(ctx context.Context, journalctl string, q Query) (*Reader, error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, journalctl, q.Args()...)
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("journalctl: %w", err)
	}
	r := &Reader{cmd: cmd, out: bufio.NewReaderSize(stdout, 64<<10), stderr: &tail{}, cancel: cancel}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", journalctl, err)
	}
	return r, nil
}

// Next returns the next entry, waiting for one. A line that does not parse is returned as an
// error wrapping ErrMalformed, and reading can go on; when journalctl ends, the error wraps
// ErrExited and says why.
func (r *Reader) Next() (Entry, error) {
	line, err := r.out.ReadBytes('\n')
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrExited, r.Close())
	}
	return ParseEntry(line)
}

// Close stops journalctl and returns how it ended (with the end of what it wrote to stderr).
func (r *Reader) Close() error {
	r.wait.Do(func() {
		r.cancel()
		err := r.cmd.Wait()
		if msg := r.stderr.String(); msg != "" {
			err = fmt.Errorf("%v: %s", err, msg)
		}
		if err == nil {
			err = errors.New("exit status 0")
		}
		r.err = err
	})
	return r.err
}

// tail keeps the end of what a process writes to stderr, for its error.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 1024 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-1024:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(string(t.buf)), " ")
}

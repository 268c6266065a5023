// Package logwatch is the collector's half of NPD's system-log-monitor files: for each loaded
// monitor it reads the log the file names — the kernel's /dev/kmsg, a log file, or the journal —
// and publishes its lines in LogBatches, at most MaxDelay or MaxLines apart, each line with a
// sequence number. After every published batch it saves where it is (the last sequence, and the
// kmsg boot, file position or journal cursor) in a state file, so a restarted collector goes
// on after the last published line without sending one twice. A log that cannot be read here
// (no /dev/kmsg in a container or on a laptop, no journalctl) stops its own watcher only, and
// says why through Status.
package logwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/collector/logwatch/filelog"
	"github.com/nodewarden/nodewarden/services/collector/logwatch/kmsg"
)

// Publish sends one batch; an error makes the watcher retry the same batch with backoff.
type Publish func(ctx context.Context, b *nwv1.LogBatch) error

// ErrUnavailable is wrapped by Status when the monitor's log cannot be read on this host.
var ErrUnavailable = errors.New("log unavailable")

// Options configure a Watcher. Zero values take the defaults given.
type Options struct {
	// HostRoot is where the host's / is mounted ("/" when empty): /dev/kmsg, log files,
	// journals, /proc and the boot id are read under it.
	HostRoot string
	// StateDir holds one state file per source. Empty keeps no state: a restart then starts
	// from the monitor's lookback again and may send lines twice.
	StateDir string
	// Node is the node name the batches carry.
	Node string
	// MaxLines is the most lines in a batch (500).
	MaxLines int
	// MaxDelay is the longest a line waits for its batch to be published (200ms).
	MaxDelay time.Duration
	// Poll is how often a file at its end is checked for new lines (100ms).
	Poll time.Duration
	// RetryBase and RetryMax bound the backoff between attempts to publish a batch
	// (100ms, 5s).
	RetryBase, RetryMax time.Duration
	// Location is the zone of file timestamps that carry none; nil takes the host's
	// /etc/localtime under HostRoot, else the collector's own zone.
	Location *time.Location
	// Journalctl is the journalctl binary; empty looks it up on PATH.
	Journalctl string
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives the watcher's logs (slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.HostRoot == "" {
		o.HostRoot = "/"
	}
	if o.MaxLines <= 0 {
		o.MaxLines = 500
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 200 * time.Millisecond
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	if o.Location == nil {
		o.Location = hostLocation(o.HostRoot)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Counts are a watcher's counters since it was made, for the caller to export (all only grow).
type Counts struct {
	LinesRead        uint64 // lines (records, entries) read from the log, parsed or not
	LinesSkipped     uint64 // read but not published: before the lookback, in the skipList, or published before a restart
	LinesPublished   uint64 // lines in published batches
	LinesLost        uint64 // kmsg sequence numbers never seen: overwritten by the kernel before they were read
	Overruns         uint64 // times the kernel reported overwritten records (EPIPE)
	ParseErrors      uint64 // lines that could not be parsed and were dropped
	BatchesPublished uint64
	PublishErrors    uint64 // failed publish attempts (each retried)
	StateErrors      uint64 // state files that could not be read or written
}

type counters struct {
	read, skipped, published, lost, overruns, parseErrors, batches, publishErrors, stateErrors atomic.Uint64
}

// Watcher reads one monitor's log and publishes it.
type Watcher struct {
	mon       *npdconfig.Monitor
	opts      Options
	log       *slog.Logger
	statePath string
	c         counters
	openKmsg  func(path string) (*kmsg.Reader, error) // replaced by tests to play the device
	missing   time.Duration                           // how often a missing log file is looked for

	mu     sync.Mutex
	status error
}

// New makes the watcher of one monitor; it reads nothing until Run.
func New(mon *npdconfig.Monitor, opts Options) (*Watcher, error) {
	opts.defaults()
	switch mon.Plugin {
	case npdconfig.PluginKmsg, npdconfig.PluginFilelog, npdconfig.PluginJournald:
	default:
		return nil, fmt.Errorf("log monitor %s: plugin %q: want kmsg, filelog or journald", mon.Path, mon.Plugin)
	}
	if mon.Plugin == npdconfig.PluginFilelog && (mon.TimestampRegexp() == nil || mon.MessageRegexp() == nil) {
		return nil, fmt.Errorf("log monitor %s: filelog expressions not compiled; load the file with npdconfig", mon.Path)
	}
	if opts.Node == "" {
		return nil, fmt.Errorf("log monitor %s: no node name", mon.Path)
	}
	sp, err := statePath(opts.StateDir, mon.Source)
	if err != nil {
		return nil, err
	}
	return &Watcher{
		mon:       mon,
		opts:      opts,
		log:       opts.Logger.With("source", mon.Source, "plugin", mon.Plugin),
		statePath: sp,
		openKmsg:  kmsg.Open,
		missing:   missingFileRetry,
	}, nil
}

// Status is nil while the log is read, and otherwise says why not (wrapping ErrUnavailable
// when the log cannot be read on this host), for logs and /readyz detail.
func (w *Watcher) Status() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// setStatus records a problem (nil clears it) and logs each change once.
func (w *Watcher) setStatus(err error) {
	w.mu.Lock()
	changed := (err == nil) != (w.status == nil) || (err != nil && err.Error() != w.status.Error())
	w.status = err
	w.mu.Unlock()
	switch {
	case changed && err != nil:
		w.log.Warn("log not read", "err", err)
	case changed:
		w.log.Info("reading log")
	}
}

func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}

// Counts returns the counters.
func (w *Watcher) Counts() Counts {
	return Counts{
		LinesRead:        w.c.read.Load(),
		LinesSkipped:     w.c.skipped.Load(),
		LinesPublished:   w.c.published.Load(),
		LinesLost:        w.c.lost.Load(),
		Overruns:         w.c.overruns.Load(),
		ParseErrors:      w.c.parseErrors.Load(),
		BatchesPublished: w.c.batches.Load(),
		PublishErrors:    w.c.publishErrors.Load(),
		StateErrors:      w.c.stateErrors.Load(),
	}
}

// line is one line read, before it has a batch.
type line struct {
	time     time.Time
	seq      uint64 // the kernel's, for kmsg; assigned when batched otherwise
	priority int32
	message  string
	file     filelog.Position // filelog: the position after the line
	cursor   string           // journald: the entry's cursor
}

// Run reads the log and publishes it until ctx ends; call it once. It returns nil when ctx
// ends or when the log cannot be read here (Status then says why).
func (w *Watcher) Run(ctx context.Context, publish Publish) error {
	st := w.resumeState()
	lines := make(chan line, 2*w.opts.MaxLines)
	srcCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(lines)
		var err error
		switch w.mon.Plugin {
		case npdconfig.PluginKmsg:
			err = w.readKmsg(srcCtx, st, lines)
		case npdconfig.PluginFilelog:
			err = w.readFile(srcCtx, st, lines)
		case npdconfig.PluginJournald:
			err = w.readJournal(srcCtx, st, lines)
		}
		if err != nil && srcCtx.Err() == nil {
			w.setStatus(err)
		}
	}()
	w.batch(ctx, publish, st, lines)
	stop()
	wg.Wait()
	return nil
}

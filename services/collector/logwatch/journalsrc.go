package logwatch

import (
	"context"
	"errors"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/services/collector/logwatch/journald"
)

// defaultJournal is NPD's logPath for the journal; nodewarden reads it with journalctl --root,
// which also finds a volatile journal in /run/log/journal.
const defaultJournal = "/var/log/journal"

// journalHealthy is how long journalctl must run before a failure it had is cleared.
const journalHealthy = 5 * time.Second

// readJournal runs journalctl for the monitor's syslog identifier and sends its entries,
// starting after the saved cursor or, fresh, at the lookback. journalctl is restarted with
// backoff when it exits, after the last entry read.
func (w *Watcher) readJournal(ctx context.Context, st *state, out chan<- line) error {
	bin := w.opts.Journalctl
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("journalctl"); err != nil {
			return unavailable("journalctl not found: %v", err)
		}
	}
	q := journald.Query{Identifier: w.mon.PluginConfig.Source, Root: w.opts.HostRoot}
	if w.mon.LogPath != "" && w.mon.LogPath != defaultJournal {
		q.Directory = hostPath(w.opts.HostRoot, w.mon.LogPath)
	}
	now := w.opts.Now()
	boot, _ := readBootTime(w.opts.HostRoot, now)
	start := startTime(now, boot, w.mon.Lookback, w.mon.Delay)
	fresh := !st.resumed || st.Cursor == ""
	if fresh {
		q.Since = start
	} else {
		q.AfterCursor = st.Cursor
	}

	var gen atomic.Uint64 // which journalctl run a delayed status clearing belongs to
	for attempt := 0; ; attempt++ {
		r, err := journald.Start(ctx, bin, q)
		if err != nil {
			return unavailable("%v", err)
		}
		run := gen.Add(1)
		healthy := time.AfterFunc(journalHealthy, func() {
			if gen.Load() == run {
				w.setStatus(nil)
			}
		})
		for {
			e, err := r.Next()
			if errors.Is(err, journald.ErrMalformed) {
				w.c.read.Add(1)
				w.c.parseErrors.Add(1)
				w.log.Debug("journal entry not parsed", "err", err)
				continue
			}
			if err != nil {
				healthy.Stop()
				gen.Add(1)
				if ctx.Err() != nil {
					return nil
				}
				w.setStatus(unavailable("%v", err))
				break
			}
			attempt = 0
			w.c.read.Add(1)
			q.AfterCursor, q.Since = e.Cursor, time.Time{}
			if fresh && e.Time.Before(start) {
				w.c.skipped.Add(1) // --since takes whole seconds
				continue
			}
			if !send(ctx, out, line{time: e.Time, priority: e.Priority, message: e.Message, cursor: e.Cursor}) {
				r.Close()
				healthy.Stop()
				return nil
			}
		}
		r.Close()
		t := time.NewTimer(backoff.Duration(attempt, time.Second, time.Minute))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

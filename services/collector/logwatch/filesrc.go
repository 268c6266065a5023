package logwatch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/nodewarden/nodewarden/services/collector/logwatch/filelog"
)

// missingFileRetry is how often a log file that does not exist yet is looked for.
const missingFileRetry = 5 * time.Second

// readFile follows the monitor's log file, as NPD's filelog plugin reads it plus rotation,
// truncation and resuming at the saved position. Lines holding a skipList entry, lines the
// pluginConfig expressions do not cut, and (on a fresh start) lines older than the lookback
// are not sent.
func (w *Watcher) readFile(ctx context.Context, st *state, out chan<- line) error {
	path := hostPath(w.opts.HostRoot, w.mon.LogPath)
	tr := filelog.NewTranslator(w.mon.TimestampRegexp(), w.mon.MessageRegexp(), w.mon.PluginConfig.TimestampFormat, w.opts.Location)
	skip := make([][]byte, len(w.mon.SkipList))
	for i, s := range w.mon.SkipList {
		skip[i] = []byte(s)
	}
	var from *filelog.Position
	if st.resumed {
		from = st.File
	}
	now := w.opts.Now()
	boot, _ := readBootTime(w.opts.HostRoot, now)
	start := startTime(now, boot, w.mon.Lookback, w.mon.Delay)

	var fl *filelog.Follower
	for fl == nil {
		var err error
		fl, err = filelog.Follow(path, from)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The file may come later (a runtime not started yet): wait for it, and say so.
			w.setStatus(unavailable("%s does not exist (yet)", path))
			t := time.NewTimer(w.missing)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		case err != nil:
			return unavailable("%v", err)
		}
	}
	defer fl.Close()
	stop := context.AfterFunc(ctx, func() { fl.Close() })
	defer stop()
	fl.Poll = w.opts.Poll
	w.setStatus(nil)

	for {
		raw, pos, err := fl.Next()
		switch {
		case errors.Is(err, filelog.ErrClosed):
			return nil
		case err != nil:
			return unavailable("%v", err)
		}
		w.c.read.Add(1)
		if containsAny(raw, skip) {
			w.c.skipped.Add(1)
			continue
		}
		when, msg, err := tr.Translate(string(raw), w.opts.Now())
		if err != nil {
			w.c.parseErrors.Add(1)
			w.log.Debug("log line not parsed", "line", string(raw), "err", err)
			continue
		}
		// Lines before the start are skipped on a fresh start only: after a restart every line
		// since the saved position is new, however old.
		if from == nil && when.Before(start) {
			w.c.skipped.Add(1)
			continue
		}
		if !send(ctx, out, line{time: when, priority: -1, message: msg, file: pos}) {
			return nil
		}
	}
}

func containsAny(b []byte, subs [][]byte) bool {
	for _, s := range subs {
		if bytes.Contains(b, s) {
			return true
		}
	}
	return false
}

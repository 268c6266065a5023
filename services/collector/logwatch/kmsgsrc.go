package logwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nodewarden/nodewarden/services/collector/logwatch/kmsg"
)

// defaultKmsg is where the kernel log is when a kmsg monitor names no logPath.
const defaultKmsg = "/dev/kmsg"

// readKmsg reads kernel records and sends them with the kernel's own sequence numbers. Within
// the boot of a saved state it resumes after the last published record; otherwise it starts
// at the monitor's lookback. Records are timed boot time + their microseconds.
func (w *Watcher) readKmsg(ctx context.Context, st *state, out chan<- line) error {
	logPath := w.mon.LogPath
	if logPath == "" {
		logPath = defaultKmsg
	}
	path := hostPath(w.opts.HostRoot, logPath)
	rd, err := w.openKmsg(path)
	if err != nil {
		return unavailable("%v", err) // the error names the path
	}
	defer rd.Close()
	stopRead := context.AfterFunc(ctx, func() { rd.Close() })
	defer stopRead()
	rd.Poll = w.opts.Poll

	now := w.opts.Now()
	boot, err := readBootTime(w.opts.HostRoot, now)
	if err != nil {
		w.log.Warn("kernel log times will be off", "err", err)
		boot = now
	}
	bootID := readBootID(w.opts.HostRoot)
	if bootID == "" {
		bootID = fmt.Sprintf("btime-%d", boot.Unix())
	}
	resume := st.resumed && st.BootID == bootID
	if !resume {
		// A new boot (or no state): the kernel's sequences start again, and so does the stream.
		st.BootID, st.LastSeq, st.StreamID = bootID, 0, "kmsg:"+bootID
	}
	start := startTime(now, boot, w.mon.Lookback, w.mon.Delay)
	prev, havePrev := st.LastSeq, resume

	var rec kmsg.Record
	reading := false
	for {
		raw, err := rd.ReadLine()
		switch {
		case errors.Is(err, kmsg.ErrOverrun):
			w.c.overruns.Add(1)
			continue
		case errors.Is(err, kmsg.ErrClosed):
			return nil
		case err != nil:
			return unavailable("%v", err)
		}
		if !reading {
			reading = true
			w.setStatus(nil)
		}
		w.c.read.Add(1)
		if err := kmsg.Parse(raw, &rec); err != nil {
			w.c.parseErrors.Add(1)
			w.log.Debug("kernel record not parsed", "record", string(raw), "err", err)
			continue
		}
		if havePrev && rec.Seq > prev+1 {
			w.c.lost.Add(rec.Seq - prev - 1)
		}
		if havePrev && rec.Seq <= prev && resume {
			w.c.skipped.Add(1) // published before the restart
			continue
		}
		prev, havePrev = rec.Seq, true
		when := boot.Add(time.Duration(rec.Usec) * time.Microsecond)
		if !resume && when.Before(start) {
			w.c.skipped.Add(1)
			continue
		}
		l := line{time: when, seq: rec.Seq, priority: int32(rec.Level), message: string(bytes.TrimSpace(rec.Message))}
		if !send(ctx, out, l) {
			return nil
		}
	}
}

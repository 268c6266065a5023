package logwatch

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// resumeState is the saved state when it belongs to this monitor, else a fresh one.
func (w *Watcher) resumeState() *state {
	st, err := loadState(w.statePath)
	if err != nil {
		w.c.stateErrors.Add(1)
		w.log.Warn("state unreadable, starting afresh", "err", err)
		st = nil
	}
	if st != nil && (st.Source != w.mon.Source || st.Plugin != w.mon.Plugin || st.LogPath != w.mon.LogPath) {
		w.log.Info("state is of another log, starting afresh", "state_plugin", st.Plugin, "state_log_path", st.LogPath)
		st = nil
	}
	if st == nil {
		return &state{Version: stateVersion, Source: w.mon.Source, Plugin: w.mon.Plugin, LogPath: w.mon.LogPath,
			StreamID: newStreamID(w.mon.Plugin)}
	}
	st.resumed = true
	return st
}

// send hands a line to the batcher unless ctx ends first.
func send(ctx context.Context, out chan<- line, l line) bool {
	select {
	case out <- l:
		return true
	case <-ctx.Done():
		return false
	}
}

// batch gathers lines into batches of at most MaxLines, each published at most MaxDelay after
// its first line arrived, and saves the state after each. A batch holds consecutive
// sequences only: a kmsg gap (lines the kernel overwrote) starts a new batch, so a reader of
// the batches sees the gap.
func (w *Watcher) batch(ctx context.Context, publish Publish, st *state, lines <-chan line) {
	kernelSeq := w.mon.Plugin == npdconfig.PluginKmsg
	var next uint64 // the next line's sequence, once the first line says the reader has set up st
	var pending []line
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() bool {
		timer.Stop()
		if len(pending) == 0 {
			return true
		}
		if err := w.publish(ctx, publish, w.makeBatch(st, pending)); err != nil {
			return false // ctx ended: the lines were not saved as sent, a restart reads them again
		}
		last := pending[len(pending)-1]
		st.LastSeq = last.seq
		switch w.mon.Plugin {
		case npdconfig.PluginFilelog:
			pos := last.file
			st.File = &pos
		case npdconfig.PluginJournald:
			st.Cursor = last.cursor
		}
		if err := st.save(w.statePath); err != nil {
			w.c.stateErrors.Add(1)
			w.log.Warn("state not saved; a restart may send lines again", "err", err)
		}
		w.c.batches.Add(1)
		w.c.published.Add(uint64(len(pending)))
		clear(pending)
		pending = pending[:0]
		return true
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				flush()
				return
			}
			if kernelSeq {
				if len(pending) > 0 && l.seq != pending[len(pending)-1].seq+1 && !flush() {
					return
				}
			} else {
				if next == 0 {
					next = st.LastSeq + 1
				}
				l.seq = next
				next++
			}
			pending = append(pending, l)
			if len(pending) == 1 {
				timer.Reset(w.opts.MaxDelay)
			}
			if len(pending) >= w.opts.MaxLines && !flush() {
				return
			}
		case <-timer.C:
			if !flush() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (w *Watcher) makeBatch(st *state, pending []line) *nwv1.LogBatch {
	b := &nwv1.LogBatch{
		Node:     w.opts.Node,
		Source:   w.mon.Source,
		Time:     timestamppb.New(w.opts.Now()),
		FirstSeq: pending[0].seq,
		StreamId: st.StreamID,
		Lines:    make([]*nwv1.LogLine, len(pending)),
	}
	for i, l := range pending {
		b.Lines[i] = &nwv1.LogLine{Time: timestamppb.New(l.time), Seq: l.seq, Priority: l.priority, Message: l.message}
	}
	return b
}

// publish sends b until it is accepted or ctx ends, backing off between attempts; the same
// batch is retried, so nothing is lost or reordered.
func (w *Watcher) publish(ctx context.Context, publish Publish, b *nwv1.LogBatch) error {
	for attempt := 0; ; attempt++ {
		err := publish(ctx, b)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.c.publishErrors.Add(1)
		if attempt&(attempt-1) == 0 { // the 1st, 2nd, 4th, 8th... failure: enough to see, not a flood
			w.log.Warn("publish failed, retrying", "attempt", attempt+1, "first_seq", b.FirstSeq, "lines", len(b.Lines), "err", err)
		}
		t := time.NewTimer(backoff.Duration(attempt, w.opts.RetryBase, w.opts.RetryMax))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

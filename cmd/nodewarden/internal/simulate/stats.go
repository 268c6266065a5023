package simulate

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// kind is a kind of message the simulator publishes.
type kind int

const (
	kindNode kind = iota
	kindContainer
	kindHealth
	kindLog
	numKinds
)

var kindNames = [numKinds]string{"node", "container", "health", "log"}

// stats are the run's counters, shared by every node's goroutine.
type stats struct {
	msgs      [numKinds]atomic.Int64
	bytes     atomic.Int64 // payload bytes of the messages stored
	errors    atomic.Int64
	skipped   atomic.Int64 // sample intervals skipped because publishing fell behind
	lines     atomic.Int64
	matched   atomic.Int64
	unhealthy atomic.Int64
}

// snapshot is the counters at one moment.
type snapshot struct {
	msgs                                              [numKinds]int64
	bytes, errors, skipped, lines, matched, unhealthy int64
}

func (s *stats) snapshot() snapshot {
	var c snapshot
	for k := range c.msgs {
		c.msgs[k] = s.msgs[k].Load()
	}
	c.bytes, c.errors, c.skipped = s.bytes.Load(), s.errors.Load(), s.skipped.Load()
	c.lines, c.matched, c.unhealthy = s.lines.Load(), s.matched.Load(), s.unhealthy.Load()
	return c
}

func (c snapshot) total() int64 {
	var t int64
	for _, m := range c.msgs {
		t += m
	}
	return t
}

// sub is what happened between prev and c.
func (c snapshot) sub(prev snapshot) snapshot {
	d := c
	for k := range d.msgs {
		d.msgs[k] -= prev.msgs[k]
	}
	d.bytes -= prev.bytes
	d.errors -= prev.errors
	d.skipped -= prev.skipped
	d.lines -= prev.lines
	d.matched -= prev.matched
	d.unhealthy -= prev.unhealthy
	return d
}

// line is the one-line summary: totals since the start, and the rates of window (the last
// interval, or the whole run) over period.
func (c snapshot) line(prefix string, elapsed time.Duration, window snapshot, period time.Duration) string {
	secs := max(period.Seconds(), 1e-9)
	var b strings.Builder
	fmt.Fprintf(&b, "%selapsed=%s msgs=%d bytes=%d errors=%d skipped=%d rate=%.1fmsg/s %.2fMB/s",
		prefix, elapsed.Round(100*time.Millisecond), c.total(), c.bytes, c.errors, c.skipped,
		float64(window.total())/secs, float64(window.bytes)/secs/1e6)
	for k, name := range kindNames {
		fmt.Fprintf(&b, " %s=%d", name, c.msgs[k])
	}
	fmt.Fprintf(&b, " lines=%d matched=%d unhealthy=%d", c.lines, c.matched, c.unhealthy)
	return b.String()
}

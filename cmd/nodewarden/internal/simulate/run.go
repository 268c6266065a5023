package simulate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// publishTimeout bounds one publish; a shutdown waits for the ones in flight at most this long.
const publishTimeout = 5 * time.Second

// publisher is what the simulator needs of the kit's publisher.
type publisher interface {
	PublishRaw(ctx context.Context, subj, msgID string, data []byte, extra nats.Header) (*jetstream.PubAck, error)
}

var _ publisher = (*publish.Publisher)(nil)

// sim is one run: the nodes, the publisher they share, and the counters.
type sim struct {
	cfg   Config
	pub   publisher
	log   *slog.Logger
	start time.Time
	nodes []*fakeNode
	sem   chan struct{} // a slot per publish in flight
	bufs  sync.Pool     // marshal buffers, one per publish in flight
	st    stats
}

func newSim(c Config, seed int64, pub publisher, log *slog.Logger) (*sim, error) {
	s := &sim{cfg: c, pub: pub, log: log, start: time.Now(), sem: make(chan struct{}, c.Concurrency)}
	s.bufs.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	p := params{containers: c.Containers, interval: c.Interval, logRate: c.LogRate,
		matchRate: c.MatchRate, unhealthyRate: c.UnhealthyRate}
	kern := newKernelCatalog(seed)
	sp := subject.Space{Prefix: c.Prefix}
	for i := range c.Nodes {
		n, err := newNode(sp, nodeName(c.NodePrefix, i+1, c.Nodes), seed, i, s.start, p, kern)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		s.nodes = append(s.nodes, n)
	}
	return s, nil
}

// run drives every node until ctx ends or the duration passed, printing a summary line every
// interval and a final one.
func (s *sim) run(ctx context.Context, out io.Writer) {
	// Time starts now, not when the nodes were built (which takes a while for many nodes), so
	// no node starts behind.
	now := time.Now()
	for _, n := range s.nodes {
		if n.logs != nil {
			n.logs.nextDue = n.logs.nextDue.Add(now.Sub(s.start))
		}
	}
	s.start = now
	if s.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, s.start.Add(s.cfg.Duration))
		defer cancel()
	}
	var wg sync.WaitGroup
	for _, n := range s.nodes {
		// Each node starts at its own point of the interval, so the publishes are spread over
		// it as those of real collectors started at different times are.
		phase := time.Duration(n.r.Int64N(int64(s.cfg.Interval)))
		wg.Go(func() { s.loop(ctx, n, s.start.Add(phase)) })
	}
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	prev, prevAt := snapshot{}, s.start
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			cur := s.st.snapshot()
			fmt.Fprintln(out, cur.line("", now.Sub(s.start), cur.sub(prev), now.Sub(prevAt)))
			prev, prevAt = cur, now
		}
	}
	wg.Wait()
	elapsed := time.Since(s.start)
	total := s.st.snapshot()
	fmt.Fprintln(out, total.line("done ", elapsed, total, elapsed))
}

// loop is one node's life: a sample interval at every tick, and a log batch whenever lines are
// due, no more often than the collector's 200 ms.
func (s *sim) loop(ctx context.Context, n *fakeNode, nextSample time.Time) {
	iv := s.cfg.Interval
	var nextFlush time.Time
	if n.logs != nil {
		nextFlush = n.logs.nextDue
	}
	wake := func() time.Time {
		if n.logs != nil && nextFlush.Before(nextSample) {
			return nextFlush
		}
		return nextSample
	}
	timer := time.NewTimer(time.Until(wake()))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		if !now.Before(nextSample) {
			if !s.publishInterval(ctx, n, now) {
				return
			}
			nextSample = nextSample.Add(iv)
			// Whole intervals missed (publishing could not keep up) are skipped, as a ticker
			// drops ticks, and counted.
			if now = time.Now(); !now.Before(nextSample) {
				missed := now.Sub(nextSample)/iv + 1
				s.st.skipped.Add(int64(missed))
				nextSample = nextSample.Add(missed * iv)
			}
		}
		if n.logs != nil && !now.Before(nextFlush) {
			for k := n.logs.due(now); k > 0; k = n.logs.due(now) {
				matched := n.logs.fill(n.r, now, min(k, maxBatchLines))
				ok, more := s.send(ctx, kindLog, n.subjLog, n.logID(n.logs.msg), n.logs.msg)
				if ok {
					s.st.lines.Add(int64(len(n.logs.msg.Lines)))
					s.st.matched.Add(int64(matched))
				}
				if !more {
					return
				}
			}
			nextFlush = n.logs.nextDue
			if earliest := now.Add(minFlush); nextFlush.Before(earliest) {
				nextFlush = earliest
			}
		}
		timer.Reset(time.Until(wake()))
	}
}

// publishInterval publishes what a collector sends every interval: the node sample, the
// container samples, a health report per component. It returns false once ctx ended.
func (s *sim) publishInterval(ctx context.Context, n *fakeNode, now time.Time) bool {
	n.interval(now)
	if _, more := s.send(ctx, kindNode, n.subjNode, n.nodeSampleID(n.ns.Seq), n.ns); !more {
		return false
	}
	if _, more := s.send(ctx, kindContainer, n.subjContainers, n.containerSamplesID(n.cs.seq), n.cs.msg); !more {
		return false
	}
	for i := range n.health {
		m := n.health[i].msg
		ok, more := s.send(ctx, kindHealth, n.subjHealth, n.healthID(m.Component, m.Seq), m)
		if ok && !m.Healthy {
			s.st.unhealthy.Add(1)
		}
		if !more {
			return false
		}
	}
	return true
}

// send marshals m and publishes it, waiting for a free slot. A publish already started is let
// finish when ctx ends (within publishTimeout), so a stop does not count as errors. It says
// whether the message was stored, and whether to go on (false once ctx ended).
func (s *sim) send(ctx context.Context, k kind, subj, id string, m proto.Message) (ok, more bool) {
	if ctx.Err() != nil { // select picks at random when a slot is free too
		return false, false
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return false, false
	}
	defer func() { <-s.sem }()
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	data, err := proto.MarshalOptions{}.MarshalAppend((*bp)[:0], m)
	if err != nil {
		s.failed(fmt.Errorf("marshal %s: %w", subj, err))
		return false, ctx.Err() == nil
	}
	*bp = data // the publisher has copied it into the connection's buffer once it returns
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	_, err = s.pub.PublishRaw(pctx, subj, id, data, nil)
	cancel()
	if err != nil {
		s.failed(err)
		return false, ctx.Err() == nil
	}
	s.st.msgs[k].Add(1)
	s.st.bytes.Add(int64(len(data)))
	return true, ctx.Err() == nil
}

// failed counts an error and logs the 1st, 2nd, 4th, 8th...: enough to see, not a flood.
func (s *sim) failed(err error) {
	n := s.st.errors.Add(1)
	if n&(n-1) == 0 {
		s.log.Warn("publish failed", "errors", n, "err", err)
	}
}

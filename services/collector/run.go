package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/collector/outbox"
)

// Run runs the collector until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	monitors, err := cfg.loadMonitors()
	if err != nil {
		return err
	}
	rt, err := daemon.Start(ctx, "collector", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	c := &collector{cfg: cfg, rt: rt, log: rt.Log.With("node", cfg.Node), start: time.Now(), m: newMetrics(rt.Registry)}
	c.out = outbox.New(rt.Publisher, outbox.Options{Size: cfg.BufferSize}, rt.Log, rt.Registry)
	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
			// Not fatal: without state a restart re-reads the lookback and asks again, which the
			// message ids and the rebooter's merging absorb.
			c.log.Warn("state directory not usable; positions will not survive a restart", "dir", cfg.StateDir, "err", err)
			c.cfg.StateDir = ""
		}
	}

	sendCtx, stopSend := context.WithCancel(context.Background())
	sent := make(chan struct{})
	go func() { defer close(sent); c.out.Run(sendCtx) }()

	var wg sync.WaitGroup
	loops := []func(context.Context) error{c.runSamples, c.runHealth, c.runSentinel}
	for _, m := range monitors {
		loops = append(loops, c.logLoop(m))
	}
	errs := make(chan error, len(loops))
	loopCtx, stopLoops := context.WithCancel(ctx)
	for _, loop := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loop(loopCtx); err != nil {
				errs <- err
				stopLoops()
			}
		}()
	}
	c.log.Info("collecting", "interval", cfg.Interval, "host_root", cfg.HostRoot, "log_monitors", len(monitors))
	<-loopCtx.Done()
	stopLoops()
	wg.Wait()
	c.drain(cfg.ShutdownTimeout)
	stopSend()
	<-sent
	rt.Close()
	close(errs)
	return <-errs // nil when every loop ended with ctx
}

// drain gives the outbox up to timeout to publish what the loops left in it.
func (c *collector) drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for c.out.Len() > 0 && time.Now().Before(deadline) && c.rt.Conn.IsConnected() {
		time.Sleep(20 * time.Millisecond)
	}
	if n := c.out.Len(); n > 0 {
		c.log.Warn("shutting down with messages unpublished", "messages", n)
	}
}

// collector is one running collector.
type collector struct {
	cfg   Config
	rt    *daemon.Runtime
	log   *slog.Logger
	out   *outbox.Outbox
	start time.Time
	m     *metrics
}

// offer queues a message that may be dropped when the outbox is full (samples, health).
func (c *collector) offer(subj, msgID string, m proto.Message) {
	data, err := proto.Marshal(m)
	if err != nil {
		c.log.Error("message not encoded", "subject", subj, "err", err)
		return
	}
	c.out.Offer(subj, msgID, data, outbox.Sample)
}

// send queues a message and waits until it is stored.
func (c *collector) send(ctx context.Context, subj, msgID string, m proto.Message, class outbox.Class) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subj, err)
	}
	return c.out.Send(ctx, subj, msgID, data, class)
}

package rebooter

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/rebooter/alerts"
	"github.com/nodewarden/nodewarden/services/rebooter/drain"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
	"github.com/nodewarden/nodewarden/services/rebooter/reboot"
	"github.com/nodewarden/nodewarden/services/rebooter/requests"
	"github.com/nodewarden/nodewarden/services/rebooter/window"
)

// Phases kept in the request record, so a restarted rebooter knows where it was.
const (
	phaseWaiting   = ""          // checks, then the lock
	phaseDraining  = "draining"  // holds the lock; cordoned (Record.Cordoned) and draining
	phaseRebooting = "rebooting" // the reboot was issued at Record.RebootAt
	phaseFailed    = "failed"    // the last attempt failed; the next one at Record.NotBefore
)

// idle means: no timer, wait for a request.
const idle time.Duration = -1

// worker reboots one node, driven by its record in NW_REBOOT_REQUESTS. One goroutine runs
// step after step; the consumer only records requests and kicks it.
type worker struct {
	cfg        Config
	log        *slog.Logger
	rt         *daemon.Runtime
	store      *requests.Store
	lock       *lock.Lock
	lockKV     jetstream.KeyValue
	drainer    *drain.Drainer // nil without Kubernetes
	alerts     alerts.Checker // nil without an alert source
	window     *window.Window
	reboot     reboot.Rebooter
	boot       reboot.BootIDSource
	now        func() time.Time
	preLabels  map[string]string
	postLabels map[string]string
	wake       chan struct{}
	m          *metrics
	start      time.Time
	seq        atomic.Uint64
	cleaned    bool   // leftovers of an earlier life were checked
	annotated  string // request id whose need was annotated on the node

	mu          sync.Mutex
	state       string // /readyz detail
	lastBlocked string
	held        *lock.Holder
	holdCancel  context.CancelFunc
	renewDone   chan struct{}
	rebooting   bool // the reboot was issued: a shutdown now must leave the node cordoned and the lock held
}

// kick wakes the work loop.
func (w *worker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run steps until ctx ends, then puts the node back if it stopped between lock and reboot.
func (w *worker) run(ctx context.Context) {
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait, err := w.step(ctx)
		if ctx.Err() != nil {
			w.stop()
			return
		}
		if err != nil {
			w.m.stepErrors.Inc()
			wait = min(backoff.Duration(failures, 200*time.Millisecond, 30*time.Second), w.cfg.Period)
			failures++
			w.log.Warn("reboot step failed; trying again", "err", err, "in", wait)
		} else {
			failures = 0
		}
		timer.Stop()
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			w.stop()
			return
		case <-w.wake:
		case <-tc:
		}
	}
}

// step looks at the record and takes the next step; it returns when to look again.
func (w *worker) step(ctx context.Context) (time.Duration, error) {
	rec, rev, ok, err := w.store.Get(ctx)
	if err != nil {
		return 0, err
	}
	if !ok {
		w.m.required.Set(0)
		if !w.cleaned {
			if err := w.cleanup(ctx); err != nil {
				return 0, err
			}
			w.cleaned = true
		}
		return idle, nil
	}
	w.cleaned = true // the record says what to undo
	w.m.required.Set(1)
	cur, err := w.boot.Current()
	if err != nil {
		return 0, err
	}
	if rec.BootID != "" && rec.BootID != cur {
		return w.finish(ctx, rec, rev, fmt.Sprintf("rebooted: boot %s, now %s", rec.BootID, cur))
	}
	now := w.now()
	switch rec.Phase {
	case phaseRebooting:
		if since := now.Sub(rec.RebootAt); since < w.rebootGrace() {
			// The node is going down; after a restart, keep the slot renewed meanwhile.
			w.reclaim(ctx, rec)
			return min(w.cfg.Period, w.rebootGrace()-since), nil
		}
		if !w.reclaim(ctx, rec) {
			return 0, w.restart(ctx, rec, "the reboot lock was lost before the node went down")
		}
		w.publish(ctx, rec.ID(), rec.BootID, nwv1.RebootPhase_REBOOT_PHASE_FAILED,
			fmt.Sprintf("still up in boot %s %s after the reboot was issued; issuing it again", cur, w.rebootGrace()))
		return w.rebootNow(ctx, rec.ID())
	case phaseDraining:
		// A rebooter that stopped mid-drain: put the node back and start over.
		return 0, w.restart(ctx, rec, "interrupted while draining")
	case phaseFailed:
		if now.Before(rec.NotBefore) {
			return rec.NotBefore.Sub(now), nil
		}
	}
	return w.attempt(ctx, rec)
}

// attempt runs the checks, takes the lock, checks again, then drains and reboots.
func (w *worker) attempt(ctx context.Context, rec requests.Record) (time.Duration, error) {
	if w.drainer != nil {
		if w.cfg.AnnotateNodes && w.annotated != rec.ID() {
			if err := w.drainer.AnnotateRebootNeeded(ctx, rec.Received); err != nil {
				return 0, err
			}
			w.annotated = rec.ID()
		}
		if w.cfg.PreferNoScheduleTaint != "" {
			if err := w.drainer.Taint(ctx); err != nil {
				return 0, err
			}
		}
	}
	if reason, detail, wait := w.blocked(ctx, rec); reason != "" {
		w.publishBlocked(ctx, rec.ID(), rec.BootID, reason, detail)
		return wait, nil
	}
	h, got, err := w.lock.TryAcquire(ctx, rec.ID())
	if err != nil {
		return 0, err
	}
	if !got {
		w.publishBlocked(ctx, rec.ID(), rec.BootID, blockedLock, "waiting for the reboot lock"+w.holders(ctx))
		// Wait for a release (the lock watches its keys), but look at window and alerts
		// again at least every period.
		actx, cancel := context.WithTimeout(ctx, w.cfg.Period)
		h, err = w.lock.Acquire(actx, rec.ID())
		cancel()
		if err != nil {
			if ctx.Err() != nil || actx.Err() != nil {
				return 0, nil
			}
			return 0, err
		}
	}
	w.m.setBlocked("")
	hctx := w.hold(ctx, h)
	w.publish(ctx, rec.ID(), rec.BootID, nwv1.RebootPhase_REBOOT_PHASE_LOCKED, fmt.Sprintf("holding reboot lock slot %d", h.Slot))
	// Again before draining: an alert may have fired while we waited for the lock.
	if reason, detail, wait := w.blocked(hctx, rec); reason != "" {
		if err := w.releaseLock(ctx); err != nil {
			return 0, err
		}
		w.publishBlocked(ctx, rec.ID(), rec.BootID, reason, detail)
		return wait, nil
	}
	return w.drainAndReboot(ctx, hctx, rec.ID())
}

// blocked says why the reboot must wait now ("" if it need not) and when to look again.
func (w *worker) blocked(ctx context.Context, rec requests.Record) (reason, detail string, wait time.Duration) {
	now := w.now()
	if !w.window.Contains(now) {
		wait = w.cfg.Period
		detail = "outside window " + w.window.String()
		if next := w.window.Next(now); !next.IsZero() {
			wait = min(wait, next.Sub(now))
			detail += "; opens " + next.Format(time.RFC3339)
		}
		return blockedWindow, "blocked: " + detail, wait
	}
	if w.drainer != nil && len(w.cfg.BlockingPodSelectors) > 0 {
		pods, err := w.drainer.BlockingPods(ctx, w.cfg.BlockingPodSelectors)
		if err != nil {
			return blockedPods, "blocked: blocking-pod check failed: " + err.Error(), w.cfg.Period
		}
		if len(pods) > 0 {
			return blockedPods, "blocked: blocking pods running: " + strings.Join(pods, ", "), w.cfg.Period
		}
	}
	if blocked, reasons := alerts.Check(ctx, w.alerts, alerts.SelfAlert(rec.Condition, w.cfg.Node)); blocked {
		return blockedAlerts, "blocked: alerts: " + strings.Join(reasons, ", "), w.cfg.Period
	}
	return "", "", 0
}

// holders describes who holds the lock, for the blocked status.
func (w *worker) holders(ctx context.Context) string {
	hs, err := lock.Holders(ctx, w.lockKV)
	if err != nil || len(hs) == 0 {
		return ""
	}
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Node
	}
	return " (held by " + strings.Join(names, ", ") + ")"
}

// drainAndReboot cordons and drains the node, then reboots it. hctx ends if the lock is lost.
func (w *worker) drainAndReboot(ctx, hctx context.Context, id string) (time.Duration, error) {
	if err := w.save(ctx, func(r *requests.Record) { r.Phase = phaseDraining }); err != nil {
		return 0, w.abort(ctx, err)
	}
	if w.drainer != nil {
		ours, err := w.drainer.Cordon(hctx)
		if ours {
			if serr := w.save(ctx, func(r *requests.Record) { r.Cordoned = true }); serr != nil && err == nil {
				err = serr
			}
		}
		if err != nil {
			return 0, w.abort(ctx, err)
		}
		if err := sleep(hctx, w.cfg.DrainDelay); err != nil {
			return 0, w.abort(ctx, err)
		}
		if len(w.preLabels) > 0 {
			if err := w.drainer.SetLabels(hctx, w.preLabels); err != nil {
				return 0, w.abort(ctx, err)
			}
		}
		w.publish(ctx, id, "", nwv1.RebootPhase_REBOOT_PHASE_DRAINING, "cordoned; draining")
		if err := w.drainer.Drain(hctx); err != nil {
			if hctx.Err() != nil {
				return 0, w.abort(ctx, fmt.Errorf("drain interrupted: %w", err))
			}
			w.m.drainFailures.Inc()
			if !w.cfg.ForceReboot {
				return w.fail(ctx, id, fmt.Sprintf("drain failed: %v", err))
			}
			w.publish(ctx, id, "", nwv1.RebootPhase_REBOOT_PHASE_DRAINING, fmt.Sprintf("drain failed (%v); --force-reboot: rebooting anyway", err))
		}
	}
	return w.rebootNow(ctx, id)
}

// rebootNow records the reboot, then issues it. The record is written first so that the
// rebooter that starts in the new boot knows the reboot was ours and completes it.
func (w *worker) rebootNow(ctx context.Context, id string) (time.Duration, error) {
	if w.drainer != nil && w.cfg.AnnotateNodes {
		if err := w.drainer.AnnotateRebootInProgress(ctx, w.now()); err != nil {
			w.log.Warn("annotate reboot in progress", "err", err)
		}
	}
	if err := w.save(ctx, func(r *requests.Record) { r.Phase, r.RebootAt = phaseRebooting, w.now().UTC() }); err != nil {
		return 0, w.abort(ctx, err)
	}
	w.mu.Lock()
	w.rebooting = true
	w.mu.Unlock()
	w.publish(ctx, id, "", nwv1.RebootPhase_REBOOT_PHASE_REBOOTING, "rebooting ("+w.cfg.RebootMethod+")")
	w.m.reboots.Inc()
	if err := w.reboot.Reboot(ctx); err != nil {
		if ctx.Err() != nil {
			return 0, nil // stopping: the next life sees the record and issues it again
		}
		w.mu.Lock()
		w.rebooting = false
		w.mu.Unlock()
		return w.fail(ctx, id, fmt.Sprintf("reboot failed: %v", err))
	}
	if w.cfg.Rebooter == nil && w.cfg.RebootMethod == MethodLog {
		// Nothing rebooted, nothing will: complete now so `nodewarden run` goes on.
		rec, rev, ok, err := w.store.Get(ctx)
		if err != nil || !ok {
			return 0, err
		}
		rec.RebootAt = time.Time{} // no downtime to report
		return w.finish(ctx, rec, rev, "reboot-method log: the node was not rebooted")
	}
	return w.cfg.Period, nil // then every period: the new boot id, or the grace runs out
}

// rebootGrace is how long the node may take to go down after the reboot was issued before it
// is issued again: a shutdown stopping many services takes minutes.
func (w *worker) rebootGrace() time.Duration {
	return max(w.cfg.Period, minRebootGrace)
}

const minRebootGrace = 5 * time.Minute

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package rebooter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
	"github.com/nodewarden/nodewarden/services/rebooter/requests"
)

// undoTimeout bounds putting the node back on an exit path, whose own context may be over.
const undoTimeout = 30 * time.Second

// hold keeps h: it renews it every TTL/3 until released, and returns a context that ends
// when the holding is lost (taken over after a missed renewal, or force-released).
func (w *worker) hold(ctx context.Context, h lock.Holder) context.Context {
	w.stopRenew()
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	w.mu.Lock()
	w.held, w.holdCancel, w.renewDone = &h, cancel, done
	w.mu.Unlock()
	w.m.lockHeld.Set(1)
	go func() {
		defer close(done)
		if w.cfg.LockTTL <= 0 {
			<-hctx.Done()
			return
		}
		t := time.NewTicker(w.cfg.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
			w.mu.Lock()
			cur := *w.held
			w.mu.Unlock()
			n, err := w.lock.Renew(hctx, cur)
			if errors.Is(err, lock.ErrNotHeld) {
				w.log.Error("reboot lock lost", "slot", cur.Slot, "err", err)
				w.mu.Lock()
				w.held = nil
				w.mu.Unlock()
				w.m.lockHeld.Set(0)
				cancel()
				return
			}
			if err != nil {
				if hctx.Err() == nil {
					w.log.Warn("renew reboot lock", "slot", cur.Slot, "err", err)
				}
				continue
			}
			w.mu.Lock()
			w.held = &n
			w.mu.Unlock()
		}
	}()
	return hctx
}

// stopRenew ends the renewal goroutine of the current holding, if any, and waits for it.
func (w *worker) stopRenew() {
	w.mu.Lock()
	cancel, done := w.holdCancel, w.renewDone
	w.holdCancel, w.renewDone = nil, nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// reclaim makes sure this node holds a slot while its reboot is under way (after a restart the
// holding is only in the KV bucket): it takes back its own slot, or a free one.
func (w *worker) reclaim(ctx context.Context, rec requests.Record) bool {
	w.mu.Lock()
	held := w.held != nil
	w.rebooting = true
	w.mu.Unlock()
	if held {
		return true
	}
	h, ok, err := w.lock.TryAcquire(ctx, rec.ID())
	if err != nil || !ok {
		return false
	}
	w.hold(ctx, h)
	return true
}

// releaseLock frees this node's slot: the holding it knows, or after a restart every slot the
// bucket says it holds. A slot taken over meanwhile is left alone.
func (w *worker) releaseLock(ctx context.Context) error {
	w.stopRenew()
	w.mu.Lock()
	h := w.held
	w.held = nil
	w.mu.Unlock()
	w.m.lockHeld.Set(0)
	if h != nil {
		if err := w.lock.Release(ctx, *h); err != nil && !errors.Is(err, lock.ErrNotHeld) {
			return err
		}
		return nil
	}
	_, err := lock.ForceRelease(ctx, w.lockKV, w.cfg.Node)
	return err
}

// save applies mutate to the record by compare-and-set, re-reading it when a request merged in
// meanwhile.
func (w *worker) save(ctx context.Context, mutate func(*requests.Record)) error {
	for range 10 {
		rec, rev, ok, err := w.store.Get(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("save reboot progress: the request record is gone")
		}
		mutate(&rec)
		if _, err := w.store.Update(ctx, rec, rev); err == nil {
			return nil
		} else if !isConflict(err) {
			return fmt.Errorf("save reboot progress: %w", err)
		}
	}
	return errors.New("save reboot progress: too many concurrent writers")
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// undo puts the node back as it was before this attempt: uncordoned if we cordoned it,
// pre-reboot labels removed, lock released, record back to waiting. It runs on every exit path
// between lock and reboot, with its own context since the caller's may have ended.
func (w *worker) undo(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var errs []error
	if w.drainer != nil {
		if _, err := w.drainer.Uncordon(ctx); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
		if len(w.preLabels) > 0 {
			if err := w.drainer.RemoveLabels(ctx, slices.Collect(maps.Keys(w.preLabels))...); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		if w.cfg.AnnotateNodes {
			if err := w.drainer.ClearRebootInProgress(ctx); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if err := w.releaseLock(ctx); err != nil {
		errs = append(errs, err)
	}
	w.mu.Lock()
	w.rebooting = false
	w.mu.Unlock()
	if err := w.save(ctx, func(r *requests.Record) { r.Phase, r.Cordoned, r.RebootAt = phaseWaiting, false, time.Time{} }); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// abort undoes the attempt after err and returns err, so the loop retries.
func (w *worker) abort(ctx context.Context, err error) error {
	if uerr := w.undo(ctx); uerr != nil {
		return errors.Join(err, fmt.Errorf("put node back: %w", uerr))
	}
	return err
}

// restart undoes an attempt a previous life left half done.
func (w *worker) restart(ctx context.Context, rec requests.Record, why string) error {
	w.log.Warn("putting the node back and starting over", "request_id", rec.ID(), "why", why, "cordoned", rec.Cordoned)
	return w.undo(ctx)
}

// fail ends an attempt that failed for good this time: node put back, lock released, status
// failed, the next attempt after a period.
func (w *worker) fail(ctx context.Context, id, why string) (time.Duration, error) {
	if err := w.undo(ctx); err != nil {
		return 0, errors.Join(errors.New(why), fmt.Errorf("put node back: %w", err))
	}
	next := w.now().Add(w.cfg.Period)
	if err := w.save(ctx, func(r *requests.Record) { r.Phase, r.NotBefore = phaseFailed, next.UTC() }); err != nil {
		return 0, err
	}
	w.publish(ctx, id, "", nwv1.RebootPhase_REBOOT_PHASE_FAILED,
		fmt.Sprintf("%s; node uncordoned and lock released; trying again at %s", why, next.UTC().Format(time.RFC3339)))
	return w.cfg.Period, nil
}

// finish completes a reboot: uncordon (only if we cordoned), taint and labels off, post-reboot
// labels on, lock released, status completed, record cleared. Every part is idempotent, so a
// failure part way is simply retried.
func (w *worker) finish(ctx context.Context, rec requests.Record, rev uint64, detail string) (time.Duration, error) {
	if d := w.drainer; d != nil {
		if _, err := d.Uncordon(ctx); err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
		steps := []func() error{
			func() error {
				if w.cfg.PreferNoScheduleTaint == "" {
					return nil
				}
				return d.Untaint(ctx)
			},
			func() error {
				if len(w.preLabels) == 0 {
					return nil
				}
				return d.RemoveLabels(ctx, slices.Collect(maps.Keys(w.preLabels))...)
			},
			func() error {
				if len(w.postLabels) == 0 {
					return nil
				}
				return d.SetLabels(ctx, w.postLabels)
			},
			func() error {
				if !w.cfg.AnnotateNodes {
					return nil
				}
				return d.ClearRebootInProgress(ctx)
			},
		}
		for _, s := range steps {
			if err := s(); err != nil && !apierrors.IsNotFound(err) {
				return 0, err
			}
		}
	}
	if err := sleep(ctx, w.cfg.LockReleaseDelay); err != nil {
		return 0, err
	}
	if err := w.releaseLock(ctx); err != nil {
		return 0, err
	}
	if !rec.RebootAt.IsZero() {
		down := w.now().Sub(rec.RebootAt)
		w.m.downtime.Set(down.Seconds())
		detail = fmt.Sprintf("%s; down %s", detail, down.Round(time.Millisecond))
	}
	if err := w.store.Clear(ctx, rev); err != nil {
		return 0, err // a request merged meanwhile: look again
	}
	w.mu.Lock()
	w.rebooting = false
	w.mu.Unlock()
	w.m.completed.Inc()
	w.m.required.Set(0)
	w.m.setBlocked("")
	w.annotated = ""
	w.publish(ctx, rec.ID(), rec.BootID, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED, detail)
	return 0, nil
}

// cleanup runs once at start when no reboot is pending: a previous life that died between
// cordon and record, or a leftover slot, must not leave the node cordoned or the lock held.
func (w *worker) cleanup(ctx context.Context) error {
	if d := w.drainer; d != nil {
		if done, err := d.Uncordon(ctx); err != nil && !apierrors.IsNotFound(err) {
			return err
		} else if done {
			w.log.Warn("uncordoned the node a previous rebooter left cordoned")
		}
		if w.cfg.PreferNoScheduleTaint != "" {
			if err := d.Untaint(ctx); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		if len(w.preLabels) > 0 {
			if err := d.RemoveLabels(ctx, slices.Collect(maps.Keys(w.preLabels))...); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		if w.cfg.AnnotateNodes {
			if err := d.ClearRebootInProgress(ctx); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	freed, err := lock.ForceRelease(ctx, w.lockKV, w.cfg.Node)
	if freed {
		w.log.Warn("released a reboot lock slot a previous rebooter left held")
	}
	return err
}

// stop runs when the rebooter shuts down: between lock and reboot it puts the node back; once
// the reboot is issued the node keeps its cordon and the lock until it is back.
func (w *worker) stop() {
	w.mu.Lock()
	held, rebooting := w.held != nil, w.rebooting
	w.mu.Unlock()
	if held && !rebooting {
		if err := w.undo(context.Background()); err != nil {
			w.log.Error("put the node back on shutdown", "err", err)
		}
		return
	}
	w.stopRenew()
}

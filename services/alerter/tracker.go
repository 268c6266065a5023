package alerter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/services/alerter/am"
	"github.com/nodewarden/nodewarden/services/alerter/kube"
)

// resolvedTail is how long a resolved alert keeps being re-posted as resolved, so an
// Alertmanager that was down or restarted (it keeps no alerts without persistence) still
// learns that it resolved.
const resolvedTail = 15 * time.Minute

// fired is whether a False condition ever fired: the detector writes a Problem's id with every
// transition, and none with the default False state it creates for each new node. Posting
// those as resolved would send Alertmanager, for every new node and condition type, a resolved
// alert each resend for resolvedTail: 40,000 a minute as 10,000 nodes join, for alerts that
// never fired (the capacity benchmark found Alertmanager the busiest process for it).
func (c *tracked) fired() bool { return c.st.ProblemID != "" || c.posted != nil }

// alerting is whether the condition has an alert to post: firing, or resolved within
// resolvedTail.
func (c *tracked) alerting(now time.Time) bool {
	return c.st.Status == conditions.True || c.fired() && now.Sub(c.st.Since) < resolvedTail
}

// maxPerPost bounds one PostAlerts call; more alerts go in several.
const maxPerPost = 1000

// conditionExporter is the Kubernetes exporter's condition side.
type conditionExporter interface {
	SetCondition(ctx context.Context, c kube.Condition) error
}

// tracker follows NW_CONDITIONS — the state, not the messages, so a restart resumes from it —
// and keeps Alertmanager and the Nodes in step: a change is posted at once (every change
// pending at that moment in one PostAlerts call), and every resend interval each True
// condition is re-posted firing and each recently resolved one resolved.
type tracker struct {
	kv     jetstream.KeyValue
	b      builder
	client *am.Client        // nil: no Alertmanager
	kube   conditionExporter // nil: no Kubernetes exporter
	log    *slog.Logger
	m      *metrics
	now    func() time.Time

	mu        sync.Mutex
	states    map[string]*tracked // by KV key
	active    int                 // True conditions, not deleted
	dirty     map[string]uint64   // to post to Alertmanager: the change number that made it so
	changes   uint64              // numbers the changes, so a flush clears only what it posted
	kubeDirty map[string]bool     // to set on the Node
	wake      chan struct{}
	loaded    chan struct{} // closed once the bucket's current values are in
	loadOnce  sync.Once
}

type tracked struct {
	st     conditions.State
	gone   bool            // the key was deleted
	posted models.LabelSet // labels of the alert last posted for this key
}

func newTracker(kv jetstream.KeyValue, b builder, client *am.Client, kx conditionExporter, log *slog.Logger, m *metrics, now func() time.Time) *tracker {
	return &tracker{kv: kv, b: b, client: client, kube: kx, log: log, m: m, now: now,
		states: map[string]*tracked{}, dirty: map[string]uint64{}, kubeDirty: map[string]bool{}, wake: make(chan struct{}, 1),
		loaded: make(chan struct{})}
}

func (t *tracker) kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// watch applies every change of the bucket (its current values first) until ctx ends,
// watching again after an interruption.
func (t *tracker) watch(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := t.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := backoff.Duration(attempt, 200*time.Millisecond, 10*time.Second)
		t.log.Warn("conditions watch interrupted; watching again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (t *tracker) watchOnce(ctx context.Context) error {
	w, err := t.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", t.kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil { // the current values are in: post them all at once
			t.loadOnce.Do(func() { close(t.loaded) })
			t.kick()
			continue
		}
		t.apply(e)
	}
	return errors.New("watcher closed")
}

// apply records one change and marks what must be posted.
func (t *tracker) apply(e jetstream.KeyValueEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := e.Key()
	cur := t.states[k]
	wasTrue := cur != nil && !cur.gone && cur.st.Status == conditions.True
	if e.Operation() != jetstream.KeyValuePut {
		if cur != nil && !cur.gone {
			cur.gone = true
			t.countLocked(wasTrue, false)
			t.markLocked(k)
			t.kick()
		}
		return
	}
	var st conditions.State
	if err := json.Unmarshal(e.Value(), &st); err != nil || st.Node == "" || st.Type == "" {
		t.m.badStates.Inc()
		t.log.Warn("condition state not understood; left alone", "key", k, "err", err)
		return
	}
	if cur == nil {
		cur = &tracked{}
		t.states[k] = cur
	}
	changed := cur.gone || cur.st.Status != st.Status || cur.st.Reason != st.Reason || cur.st.Message != st.Message
	cur.st, cur.gone = st, false
	t.countLocked(wasTrue, st.Status == conditions.True)
	t.markLocked(k)
	if changed && t.kube != nil {
		t.kubeDirty[k] = true
	}
	t.kick()
}

// countLocked moves the count of True conditions by one condition's change; t.mu is held.
// Kept as changes arrive: counting over every state at each flush cost the alerter a third
// of a core at 10,000 nodes (ten conditions each), flushing as the changes streamed in.
func (t *tracker) countLocked(was, is bool) {
	switch {
	case was == is:
		return
	case is:
		t.active++
	default:
		t.active--
	}
	t.m.active.Set(float64(t.active))
}

// run posts what is dirty whenever something changes, and everything due every resend
// interval, until ctx ends. A failed post is retried with backoff; nothing is dropped.
func (t *tracker) run(ctx context.Context) {
	resend := time.NewTicker(t.b.resend)
	defer resend.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	failures := 0
	// The first post waits for every current condition, so a restart re-sends them in one
	// PostAlerts call rather than one by one as the watcher delivers them.
	select {
	case <-ctx.Done():
		return
	case <-t.loaded:
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		case <-resend.C:
			t.markAll()
		case <-retry.C:
		}
		err := errors.Join(t.flushAlerts(ctx), t.flushKube(ctx))
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		wait := backoff.Duration(failures, 200*time.Millisecond, 30*time.Second)
		failures++
		t.log.Warn("posting alerts failed; retrying", "err", err, "in", wait)
		retry.Reset(wait)
	}
}

// markAll marks for the resend every condition that has an alert to post: most are False and
// long settled, and a large cluster has ten per node.
func (t *tracker) markAll() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, cur := range t.states {
		if cur.gone || cur.alerting(now) {
			t.markLocked(k)
		}
	}
}

// markLocked marks key k to be posted; t.mu is held.
func (t *tracker) markLocked(k string) {
	t.changes++
	t.dirty[k] = t.changes
}

// flushAlerts posts the dirty conditions' alerts.
func (t *tracker) flushAlerts(ctx context.Context) error {
	if t.client == nil {
		t.mu.Lock()
		clear(t.dirty)
		t.mu.Unlock()
		return nil
	}
	now := t.now()
	t.mu.Lock()
	// What this flush posts, by key: a change that arrives while the post is in flight marks
	// its key again with a later number, and stays marked for the next flush.
	type sent struct {
		change uint64
		gone   bool
		labels models.LabelSet // of the alert posted; nil when none was
	}
	var alerts models.PostableAlerts
	flushed := make(map[string]sent, len(t.dirty))
	for k, change := range t.dirty {
		cur := t.states[k]
		f := sent{change: change, gone: cur.gone, labels: cur.posted}
		switch {
		case cur.gone:
			if cur.posted != nil {
				alerts = append(alerts, t.b.resolved(cur.posted, now))
			}
		case cur.alerting(now):
			a := t.b.condition(cur.st, now)
			if cur.posted != nil && !sameLabels(cur.posted, a.Labels) {
				// Another reason is another alert: the old one resolves now.
				alerts = append(alerts, t.b.resolved(cur.posted, now))
			}
			alerts = append(alerts, a)
			f.labels = a.Labels
		}
		flushed[k] = f
	}
	t.mu.Unlock()
	for start := 0; start < len(alerts); start += maxPerPost {
		chunk := alerts[start:min(start+maxPerPost, len(alerts))]
		began := time.Now()
		failed, err := t.client.Post(ctx, chunk)
		t.m.postDuration.Observe(time.Since(began).Seconds())
		for _, u := range failed {
			t.m.postErrors.WithLabelValues(u).Inc()
		}
		if err != nil {
			return err
		}
		t.m.posted.WithLabelValues("condition").Add(float64(len(chunk)))
	}
	// All posted: remember what is posted, drop what is gone and did not come back.
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, f := range flushed {
		cur := t.states[k]
		if cur == nil {
			continue
		}
		if f.gone {
			cur.posted = nil // resolved
		} else {
			cur.posted = f.labels
		}
		if t.dirty[k] != f.change {
			continue // changed meanwhile: posted again by the next flush
		}
		delete(t.dirty, k)
		if f.gone {
			delete(t.states, k)
		}
	}
	return nil
}

// flushKube sets the changed conditions on their Nodes.
func (t *tracker) flushKube(ctx context.Context) error {
	if t.kube == nil {
		return nil
	}
	t.mu.Lock()
	var todo []conditions.State
	for k := range t.kubeDirty {
		if cur := t.states[k]; cur != nil && !cur.gone {
			todo = append(todo, cur.st)
		}
	}
	t.mu.Unlock()
	var errs []error
	for _, st := range todo {
		err := t.kube.SetCondition(ctx, kube.Condition{Node: st.Node, Type: st.Type, Status: st.Status, Reason: st.Reason,
			Message: st.Message, Transition: st.Since})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k, _ := conditions.Key(st.Node, st.Type)
		t.mu.Lock()
		if cur := t.states[k]; cur != nil && cur.st.Status == st.Status && cur.st.Reason == st.Reason && cur.st.Message == st.Message {
			delete(t.kubeDirty, k)
		}
		t.mu.Unlock()
	}
	return errors.Join(errs...)
}

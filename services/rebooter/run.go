package rebooter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter/alerts"
	"github.com/nodewarden/nodewarden/services/rebooter/drain"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
	"github.com/nodewarden/nodewarden/services/rebooter/reboot"
	"github.com/nodewarden/nodewarden/services/rebooter/requests"
)

// Run runs the rebooter until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	kube, err := cfg.kubeClient()
	if err != nil {
		return err
	}
	if kube == nil && len(cfg.BlockingPodSelectors) > 0 {
		return config.Invalid("blocking-pod-selector", cfg.BlockingPodSelectors.String(), "needs Kubernetes: give --kubeconfig or run in a cluster")
	}
	rt, err := daemon.Start(ctx, "rebooter", cfg.Common, Needs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w, err := newWorker(ctx, cfg, rt, kube)
	if err != nil {
		rt.Close()
		return err
	}
	durable, err := subject.Encode(cfg.Node)
	if err != nil {
		rt.Close()
		return err
	}
	subj, _ := rt.Subjects.RebootRequired(cfg.Node)
	c, err := consume.New(rt.JS, rt.Publisher, consume.Config{
		Stream:      topology.StreamReboot,
		Durable:     "rebooter-" + durable,
		Filters:     []string{subj},
		DeadSubject: rt.Subjects.Dead(topology.StreamReboot),
		Decode:      schema.Decoder(rt.Subjects),
		Handle:      w.handle,
		Batch:       16,
	}, rt.Log, rt.Consume)
	if err != nil {
		rt.Close()
		return err
	}
	rt.AddDetail("kubernetes", func() string {
		if kube == nil {
			return "kubernetes: none (no cordon, drain, labels or blocking-pod check)"
		}
		return "kubernetes: connected"
	})
	rt.AddDetail("reboot", w.detail)
	rt.Log.Info("watching for reboot requests", "node", cfg.Node, "reboot_method", cfg.RebootMethod,
		"concurrency", cfg.Concurrency, "window", w.window.String(), "kubernetes", kube != nil)

	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	wg.Go(func() { w.run(ctx) })
	if w.drainer != nil {
		wg.Go(func() { w.sweepGone(ctx) })
	}
	<-ctx.Done()
	// The worker puts the node back (uncordon, release the lock, save the record) on its way
	// out, through NATS: the connection closes only after it is done.
	wg.Wait()
	rt.Close()
	return nil
}

// kubeClient returns the injected client, one from --kubeconfig, the in-cluster one, or nil
// when there is no Kubernetes (nodewarden run on a laptop).
func (c *Config) kubeClient() (kubernetes.Interface, error) {
	if c.Kube != nil {
		return c.Kube, nil
	}
	var (
		rc  *rest.Config
		err error
	)
	switch {
	case c.Kubeconfig != "":
		if rc, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
			return nil, config.Invalid("kubeconfig", c.Kubeconfig, "%v", err)
		}
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes config: %w", err)
		}
	default:
		return nil, nil
	}
	rc.UserAgent = "nodewarden-rebooter"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}

// handle records one RebootRequired and acks it: the work loop does the rest from the record.
func (w *worker) handle(ctx context.Context, m *consume.Message) error {
	r, ok := m.Payload.(*nwv1.RebootRequired)
	if !ok {
		return consume.Permanent(fmt.Errorf("subject %s carries %T, not RebootRequired", m.Subject, m.Payload))
	}
	if r.Node != w.cfg.Node {
		return consume.Permanent(fmt.Errorf("reboot request on %s names node %q, not %q", m.Subject, r.Node, w.cfg.Node))
	}
	if r.RequestId == "" {
		return consume.Permanent(fmt.Errorf("reboot request on %s has no request id", m.Subject))
	}
	boot, err := w.boot.Current()
	if err != nil {
		return err
	}
	out, rec, err := w.store.Add(ctx, r, boot, w.now())
	if err != nil {
		if errors.Is(err, requests.ErrCompleting) {
			w.kick()
		}
		return err
	}
	w.m.requests.WithLabelValues(out.String()).Inc()
	w.log.Info("reboot request", "request_id", r.RequestId, "outcome", out.String(), "reason", r.Reason, "origin", r.Origin, "boot_id", r.BootId)
	switch out {
	case requests.Recorded:
		w.publish(ctx, rec.ID(), rec.BootID, nwv1.RebootPhase_REBOOT_PHASE_REQUESTED, r.Reason)
	case requests.Stale:
		w.publish(ctx, r.RequestId, r.BootId, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED,
			fmt.Sprintf("already done: the node rebooted since the request (boot %s, now %s)", r.BootId, boot))
	}
	w.kick()
	return nil
}

// sweepGone frees lock slots held by nodes whose Node object is gone, at start and every
// period, so a deleted node cannot hold the lock for ever (kured's most reported fault).
func (w *worker) sweepGone(ctx context.Context) {
	t := time.NewTicker(w.cfg.Period)
	defer t.Stop()
	for {
		gone, err := lock.ReleaseGone(ctx, w.lockKV, w.drainer.NodeExists)
		for _, n := range gone {
			w.log.Warn("released the reboot lock of a deleted node", "holder", n)
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn("lock sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newWorker builds the parts the work loop uses.
func newWorker(ctx context.Context, cfg Config, rt *daemon.Runtime, kube kubernetes.Interface) (*worker, error) {
	reqKV, err := rt.JS.KeyValue(ctx, topology.BucketRebootRequests)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", topology.BucketRebootRequests, err)
	}
	lockKV, err := rt.JS.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", topology.BucketRebootLock, err)
	}
	store, err := requests.New(reqKV, cfg.Node)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	lk, err := lock.New(lockKV, lock.Options{Node: cfg.Node, Slots: cfg.Concurrency, TTL: cfg.LockTTL, Now: now})
	if err != nil {
		return nil, config.Invalid("concurrency", cfg.Concurrency, "%v", err)
	}
	win, _ := cfg.Window.Window() // checked by Validate
	checker, err := alerts.New(cfg.Alerts)
	if err != nil {
		return nil, err
	}
	boot := cfg.BootID
	if boot == nil {
		boot = reboot.BootIDFile(cfg.BootIDFile)
	}
	if _, err := boot.Current(); err != nil {
		return nil, config.Invalid("boot-id-file", cfg.BootIDFile, "%v", err)
	}
	rb := cfg.Rebooter
	if rb == nil {
		if rb, err = reboot.New(reboot.Options{Method: cfg.RebootMethod, Command: cfg.RebootCommand, HostPIDNs: cfg.HostPIDNs,
			Signal: cfg.RebootSignal, Delay: cfg.RebootDelay, Logger: rt.Log}); err != nil {
			return nil, config.Invalid("reboot-command", cfg.RebootCommand, "%v", err)
		}
	}
	pre, _ := drain.ParseLabels(cfg.PreRebootNodeLabels)
	post, _ := drain.ParseLabels(cfg.PostRebootNodeLabels)
	w := &worker{
		cfg: cfg, log: rt.Log, rt: rt, store: store, lock: lk, lockKV: lockKV, alerts: checker,
		window: win, reboot: rb, boot: boot, now: now, preLabels: pre, postLabels: post,
		wake: make(chan struct{}, 1), m: newMetrics(rt.Registry, cfg.Node), start: now(),
	}
	if kube != nil {
		if w.drainer, err = drain.New(kube, cfg.Node, cfg.drainOptions(rt.Log)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// detail is the /readyz line saying what the rebooter is doing.
func (w *worker) detail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == "" {
		return "reboot: idle"
	}
	return "reboot: " + w.state
}

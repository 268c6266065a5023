package collector

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/services/collector/cgroups"
	"github.com/nodewarden/nodewarden/services/collector/cri"
	"github.com/nodewarden/nodewarden/services/collector/nodestat"
)

// runSamples takes a node sample and a container sample right away and then every interval,
// and queues both; the outbox publishes them, so a slow NATS never delays the next pass.
func (c *collector) runSamples(ctx context.Context) error {
	node := nodestat.New(nodestat.Options{Root: c.cfg.HostRoot, Mounts: c.cfg.mountList()})
	var names *names
	if c.cfg.CRISocket != "" {
		cl, err := cri.Dial(ctx, c.cfg.CRISocket, c.cfg.CRITimeout)
		if err != nil {
			c.log.Warn("container names unavailable", "cri_socket", c.cfg.CRISocket, "err", err)
		} else {
			defer cl.Close()
			names = newNames(cl, c.log)
			go names.run(ctx)
		}
	}
	copts := cgroups.Options{Root: c.cfg.HostRoot, CgroupRoot: c.cfg.CgroupRoot, Version: c.cfg.CgroupVersion}
	if names != nil {
		copts.Lookup = names.lookup
	}
	ctrs := cgroups.New(copts)
	defer ctrs.Close()

	nodeSubj, err := c.rt.Subjects.NodeSample(c.cfg.Node)
	if err != nil {
		return err
	}
	ctrSubj, err := c.rt.Subjects.ContainerSamples(c.cfg.Node)
	if err != nil {
		return err
	}
	start := timestamppb.New(c.start)
	var seq uint64
	noCgroups := false
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		seq++
		now := time.Now()
		passStart := time.Now()
		s, st, err := node.Read()
		c.m.pass.WithLabelValues("node").Observe(time.Since(passStart).Seconds())
		c.m.readErrors.WithLabelValues("node").Add(float64(st.ReadErrors + st.StuckMounts))
		c.m.parseErrors.WithLabelValues("node").Add(float64(st.ParseErrors))
		if err != nil {
			c.log.Debug("node sample incomplete", "err", err)
		}
		s.Node, s.Time, s.Seq, s.CollectorStart = c.cfg.Node, timestamppb.New(now), seq, start
		c.offer(nodeSubj, msgid.NodeSample(c.cfg.Node, c.start, seq), s)

		if names != nil {
			names.refresh()
		}
		passStart = time.Now()
		list, pods, cst, err := ctrs.Collect()
		c.m.pass.WithLabelValues("containers").Observe(time.Since(passStart).Seconds())
		switch {
		case errors.Is(err, cgroups.ErrNoCgroups):
			if !noCgroups {
				noCgroups = true
				c.log.Warn("no cgroup file system under the host root; no container samples", "host_root", c.cfg.HostRoot)
			}
		case err != nil:
			c.m.readErrors.WithLabelValues("containers").Inc()
			c.log.Warn("containers not read", "err", err)
		default:
			noCgroups = false
			c.m.containers.Set(float64(cst.Containers))
			c.m.vanished.Add(float64(cst.Vanished))
			c.m.readErrors.WithLabelValues("containers").Add(float64(cst.ReadErrors))
			c.m.parseErrors.WithLabelValues("containers").Add(float64(cst.ParseErrors))
			if cst.FirstError != nil {
				c.log.Debug("container files not read", "read_errors", cst.ReadErrors, "parse_errors", cst.ParseErrors, "first", cst.FirstError)
			}
			cs := &nwv1.ContainerSamples{Node: c.cfg.Node, Time: timestamppb.New(now), Seq: seq, Containers: list,
				Pods: pods, Vanished: uint32(cst.Vanished), CollectorStart: start}
			c.offer(ctrSubj, msgid.ContainerSamples(c.cfg.Node, c.start, seq), cs)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// names answers the cgroup collector's lookups from the last list of the runtime's containers,
// refreshed in the background so a hung runtime never delays a pass. A container the list does
// not know yet asks for an early refresh; it has its names from the next pass on.
type names struct {
	cl     *cri.Client
	log    *slog.Logger
	meta   atomic.Pointer[map[string]cri.Meta]
	missed atomic.Bool
	wake   chan struct{}
	failed bool
}

func newNames(cl *cri.Client, log *slog.Logger) *names {
	return &names{cl: cl, log: log, wake: make(chan struct{}, 1)}
}

func (n *names) lookup(id string) (cgroups.Meta, bool) {
	if p := n.meta.Load(); p != nil {
		if m, ok := (*p)[id]; ok {
			return cgroups.Meta{Name: m.Name, PodName: m.PodName, Namespace: m.Namespace, Image: m.Image}, true
		}
	}
	n.missed.Store(true)
	return cgroups.Meta{}, false
}

// refresh asks the background loop for a list; it never waits.
func (n *names) refresh() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *names) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		if n.missed.Swap(false) {
			n.cl.Invalidate()
		}
		m, err := n.cl.Containers(ctx)
		switch {
		case err != nil && !n.failed:
			n.failed = true
			n.log.Warn("container names unavailable; samples go without them", "cri_socket", n.cl.Socket(), "err", err)
		case err == nil && n.failed:
			n.failed = false
			n.log.Info("container names available again", "cri_socket", n.cl.Socket())
		}
		if m != nil {
			n.meta.Store(&m)
		}
	}
}

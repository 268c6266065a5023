package detector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/backoff"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/detector/engine"
)

// worker evaluates the partitions this replica holds.
type worker struct {
	rt     *daemon.Runtime
	rules  *engine.Rules
	store  *conditions.Store
	m      *engine.Metrics
	prefix string
}

// run consumes one partition in order until ctx ends (the lease was given up or lost). Its
// durable consumer belongs to the partition, not the replica, so the next holder goes on from
// the last acknowledged message.
func (w *worker) run(ctx context.Context, p int) {
	eng := engine.New(w.rules, w.rt.Subjects, w.rt.Publisher, w.store, w.m, w.rt.Log.With("partition", p))
	eng.Containers = lastSample{js: w.rt.JS, sp: w.rt.Subjects}
	c, err := consume.New(w.rt.JS, w.rt.Publisher, consume.Config{
		Stream:      topology.StreamDetect,
		Durable:     fmt.Sprintf("detector-p%d", p),
		Filters:     []string{topology.DetectSubjects(w.prefix, p)},
		DeadSubject: w.rt.Subjects.Dead(topology.StreamDetect),
		Decode:      decodeDetect(w.rt.Subjects),
		Handle: func(ctx context.Context, m *consume.Message) error {
			return retryInPlace(ctx, func() error { return eng.Handle(ctx, m.Payload) })
		},
	}, w.rt.Log, w.rt.Consume)
	if err != nil {
		w.rt.Log.Error("partition not consumed", "partition", p, "err", err)
		return
	}
	_ = c.Run(ctx)
}

// retryInPlace retries a failed evaluation (NATS or KV unreachable) until it succeeds or ctx
// ends, so the partition's messages stay in order; the engine resumes where it failed.
func retryInPlace(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, conditions.ErrConflict) && attempt == 0 {
			continue // the state was reloaded: re-evaluate at once
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff.Duration(attempt, 50*time.Millisecond, 5*time.Second)):
		}
	}
}

// decodeDetect decodes DETECT's subjects: <prefix>.detect.<p>.log.<source>.<node>,
// <prefix>.detect.<p>.health.<node>, <prefix>.detect.<p>.sample.<node>.
func decodeDetect(sp subject.Space) consume.Decoder {
	head := sp.Join("detect") + "."
	return func(subj string, data []byte) (proto.Message, error) {
		rest, ok := strings.CutPrefix(subj, head)
		if !ok {
			return nil, fmt.Errorf("subject %s is not a detector input", subj)
		}
		tok := strings.Split(rest, ".")
		var m proto.Message
		switch {
		case len(tok) == 4 && tok[1] == "log":
			m = &nwv1.LogBatch{}
		case len(tok) == 3 && tok[1] == "health":
			m = &nwv1.HealthReport{}
		case len(tok) == 3 && tok[1] == "sample":
			m = &nwv1.NodeSample{}
		default:
			return nil, fmt.Errorf("subject %s is not a detector input", subj)
		}
		if err := proto.Unmarshal(data, m); err != nil {
			return nil, fmt.Errorf("decode %s: %w", subj, err)
		}
		node, err := subject.Decode(tok[len(tok)-1])
		if err != nil {
			return nil, fmt.Errorf("subject %s: %w", subj, err)
		}
		// The subject names the node; a payload claiming another node is not trusted.
		switch v := m.(type) {
		case *nwv1.LogBatch:
			source, err := subject.Decode(tok[2])
			if err != nil || v.Node != node || v.Source != source {
				return nil, fmt.Errorf("subject %s carries node %q source %q", subj, v.Node, v.Source)
			}
		case *nwv1.HealthReport:
			if v.Node != node {
				return nil, fmt.Errorf("subject %s carries node %q", subj, v.Node)
			}
		case *nwv1.NodeSample:
			if v.Node != node {
				return nil, fmt.Errorf("subject %s carries node %q", subj, v.Node)
			}
		}
		return m, nil
	}
}

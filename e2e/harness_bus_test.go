package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// Bus returns a JetStream client of the harness's bus, closed at cleanup.
func (e *Env) Bus() jetstream.JetStream {
	e.T.Helper()
	nc, err := nats.Connect(e.NATSURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		e.T.Fatalf("connect to the bus: %v", err)
	}
	e.T.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.T.Fatalf("jetstream: %v", err)
	}
	return js
}

// StatusLog collects every RebootStatus published on the bus from its start on.
type StatusLog struct {
	mu   sync.Mutex
	list []*nwv1.RebootStatus
	errs []string
}

// FollowRebootStatus starts collecting RebootStatus messages (from the start of EVENTS).
func (e *Env) FollowRebootStatus() *StatusLog {
	e.T.Helper()
	js := e.Bus()
	ctx, cancel := context.WithCancel(context.Background())
	e.T.Cleanup(cancel)
	var sp subject.Space
	c, err := js.OrderedConsumer(ctx, "EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{sp.All("reboot.status")}})
	if err != nil {
		e.T.Fatalf("follow reboot status: %v", err)
	}
	l := &StatusLog{}
	cc, err := c.Consume(func(m jetstream.Msg) {
		var st nwv1.RebootStatus
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := proto.Unmarshal(m.Data(), &st); err != nil {
			l.errs = append(l.errs, fmt.Sprintf("%s: %v", m.Subject(), err))
			return
		}
		l.list = append(l.list, &st)
	})
	if err != nil {
		e.T.Fatalf("follow reboot status: %v", err)
	}
	e.T.Cleanup(cc.Stop)
	return l
}

// Of returns node's statuses so far, in publishing order.
func (l *StatusLog) Of(node string) []*nwv1.RebootStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*nwv1.RebootStatus
	for _, s := range l.list {
		if s.GetNode() == node {
			out = append(out, s)
		}
	}
	return out
}

// Has reports whether node published phase.
func (l *StatusLog) Has(node string, phase nwv1.RebootPhase) bool {
	for _, s := range l.Of(node) {
		if s.GetPhase() == phase {
			return true
		}
	}
	return false
}

// String lists every status, for failure messages.
func (l *StatusLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, s := range l.list {
		fmt.Fprintf(&b, "\n  %s %s %s %s: %s", s.GetTime().AsTime().Format("15:04:05.000"), s.GetNode(),
			s.GetRequestId(), s.GetPhase(), s.GetDetail())
	}
	for _, e := range l.errs {
		fmt.Fprintf(&b, "\n  undecodable: %s", e)
	}
	return b.String()
}

// LastContainerSamples returns the last ContainerSamples stored for node in SAMPLES.
func (e *Env) LastContainerSamples(js jetstream.JetStream, node string) (*nwv1.ContainerSamples, error) {
	var sp subject.Space
	subj, err := sp.ContainerSamples(node)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "SAMPLES")
	if err != nil {
		return nil, fmt.Errorf("stream SAMPLES: %w", err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		return nil, fmt.Errorf("last message on %s: %w", subj, err)
	}
	var cs nwv1.ContainerSamples
	if err := proto.Unmarshal(m.Data, &cs); err != nil {
		return nil, fmt.Errorf("decode %s: %w", subj, err)
	}
	return &cs, nil
}

// Package publish sends protobuf messages to JetStream with a Nats-Msg-Id derived from the
// content's identity, so a retried publish inside the stream's duplicate window is stored once.
package publish

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// Publisher publishes protobuf messages with message ids.
type Publisher struct {
	js         jetstream.JetStream
	published  *prometheus.CounterVec
	duplicates prometheus.Counter
	failed     prometheus.Counter
}

// New returns a Publisher counting on reg.
func New(js jetstream.JetStream, reg prometheus.Registerer) *Publisher {
	p := &Publisher{
		js: js,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewarden_published_messages_total", Help: "Messages stored by JetStream, by stream."}, []string{"stream"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_published_duplicates_total", Help: "Publishes JetStream dropped as duplicates of a message id."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewarden_publish_failures_total", Help: "Publishes that failed (to be retried by the caller)."}),
	}
	reg.MustRegister(p.published, p.duplicates, p.failed)
	return p
}

// Publish marshals m and publishes it on subject with msgID as Nats-Msg-Id. extra headers are
// added as given. A duplicate (same id inside the window) is not an error: the ack says so.
func (p *Publisher) Publish(ctx context.Context, subj, msgID string, m proto.Message, extra nats.Header) (*jetstream.PubAck, error) {
	if msgID == "" {
		return nil, errors.New("publish: empty message id")
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("publish %s: marshal %T: %w", subj, m, err)
	}
	return p.PublishRaw(ctx, subj, msgID, data, extra)
}

// PublishRaw publishes bytes as they are (used for dead letters and replays).
func (p *Publisher) PublishRaw(ctx context.Context, subj, msgID string, data []byte, extra nats.Header) (*jetstream.PubAck, error) {
	msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{}}
	for k, vs := range extra {
		msg.Header[k] = append([]string(nil), vs...)
	}
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID))
	if err != nil {
		p.failed.Inc()
		return nil, fmt.Errorf("publish %s (id %s): %w", subj, msgID, err)
	}
	if ack.Duplicate {
		p.duplicates.Inc()
	} else {
		p.published.WithLabelValues(ack.Stream).Inc()
	}
	return ack, nil
}

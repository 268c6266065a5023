package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// benchContainers is the containers per node of the raw bus figures and of the issue's
// capacity target (10,000 nodes × 50 containers).
const benchContainers = 50

// jsResult is the bus alone on this machine: an embedded server with file storage, messages
// the size of a node's ContainerSamples of benchContainers.
type jsResult struct {
	msgBytes           int
	published          int
	pubRate, consRate  float64 // messages/s
	latP50, latP99     time.Duration
	pubErr, consumeErr error
}

// containerSamplesMsg is a ContainerSamples of n containers shaped as a collector's.
func containerSamplesMsg(node string, n int) *nwv1.ContainerSamples {
	m := &nwv1.ContainerSamples{Node: node, Time: timestamppb.Now()}
	for c := range n {
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", len(node), c)
		id := fmt.Sprintf("%064x", c)
		m.Containers = append(m.Containers, &nwv1.ContainerSample{
			Id: id, PodUid: uid, Name: "app", PodName: fmt.Sprintf("web-%d-abcde", c), Namespace: "shop",
			Image: "registry.example/web:1.2", CgroupPath: "/kubepods/burstable/pod" + uid + "/" + id, CgroupVersion: 2,
			Cpu: &nwv1.ContainerCPU{UsageSeconds: 1234.5 + float64(c), UserSeconds: 1000.25, SystemSeconds: 234.25, Periods: 100000,
				ThrottledPeriods: 120, ThrottledSeconds: 3.5, QuotaUsec: 50000, PeriodUsec: 100000, Shares: 512},
			Memory: &nwv1.ContainerMemory{UsageBytes: 300 << 20, WorkingSetBytes: 250 << 20, RssBytes: 200 << 20, CacheBytes: 50 << 20, LimitBytes: 1 << 30},
			Blkio:  &nwv1.ContainerBlkio{ReadBytes: 1 << 30, WriteBytes: 2 << 30, ReadOps: 12345, WriteOps: 23456},
		})
	}
	return m
}

// measureJetStream publishes sample-sized messages as fast as the bus takes them (async, each
// with a Nats-Msg-Id, as the services publish), then consumes them with a durable pull consumer
// and explicit acks, and times single publish → delivery round trips.
func measureJetStream(t *testing.T, quick bool) jsResult {
	srv := testenv.StartJetStream(t)
	nc, _ := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var r jsResult
	// A bounded window of publishes in flight, as the services' outboxes keep, so a slow disk
	// slows the publisher down instead of failing it.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		r.pubErr = fmt.Errorf("jetstream: %w", err)
		return r
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCHRAW", Subjects: []string{"benchraw.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		r.pubErr = fmt.Errorf("create stream: %w", err)
		return r
	}
	data, err := proto.Marshal(containerSamplesMsg("ip-10-0-0-1.ec2.internal", benchContainers))
	if err != nil {
		r.pubErr = err
		return r
	}
	r.msgBytes = len(data)
	window, limit := load2(quick, 3*time.Second, 10*time.Second), load2(quick, 30000, 150000)

	start := time.Now()
	for r.published < limit && time.Since(start) < window {
		if js.PublishAsyncPending() >= 512 {
			// Wait for the window to drain rather than let PublishAsync stall and fail.
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				r.pubErr = fmt.Errorf("publishes not acknowledged: %w", ctx.Err())
				return r
			}
		}
		subj := fmt.Sprintf("benchraw.sample.container.node-%d", r.published%1000)
		if _, err := js.PublishAsync(subj, data, jetstream.WithMsgID(fmt.Sprintf("raw:%d", r.published))); err != nil {
			r.pubErr = fmt.Errorf("publish %d: %w", r.published, err)
			return r
		}
		r.published++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		r.pubErr = fmt.Errorf("publishes not acknowledged: %w", ctx.Err())
		return r
	}
	r.pubRate = float64(r.published) / time.Since(start).Seconds()

	c, err := js.CreateConsumer(ctx, "BENCHRAW", jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: "benchraw.sample.>"})
	if err != nil {
		r.consumeErr = fmt.Errorf("create consumer: %w", err)
		return r
	}
	start = time.Now()
	it, err := c.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		r.consumeErr = fmt.Errorf("consume: %w", err)
		return r
	}
	for i := range r.published {
		m, err := it.Next()
		if err != nil {
			it.Stop()
			r.consumeErr = fmt.Errorf("consume message %d: %w", i, err)
			return r
		}
		_ = m.Ack()
	}
	it.Stop()
	r.consRate = float64(r.published) / time.Since(start).Seconds()

	r.latP50, r.latP99, err = roundTrips(ctx, js, data, load2(quick, 100, 1000))
	if err != nil {
		r.consumeErr = err
	}
	return r
}

// roundTrips times n sequential publishes of data, each until a pull consumer's callback has it.
func roundTrips(ctx context.Context, js jetstream.JetStream, data []byte, n int) (p50, p99 time.Duration, err error) {
	c, err := js.CreateConsumer(ctx, "BENCHRAW", jetstream.ConsumerConfig{Durable: "bench-rtt",
		AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "benchraw.rtt.>", DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return 0, 0, fmt.Errorf("create consumer: %w", err)
	}
	got := make(chan time.Time, 1)
	cc, err := c.Consume(func(m jetstream.Msg) { _ = m.Ack(); got <- time.Now() })
	if err != nil {
		return 0, 0, fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()
	var lat []time.Duration
	for i := range n {
		t0 := time.Now()
		if _, err := js.Publish(ctx, "benchraw.rtt.x", data, jetstream.WithMsgID(fmt.Sprintf("rtt:%d", i))); err != nil {
			return 0, 0, fmt.Errorf("publish: %w", err)
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(t0))
		case <-time.After(10 * time.Second):
			return 0, 0, fmt.Errorf("round trip %d: not delivered in 10 s", i)
		}
	}
	return quantile(lat, 0.5), quantile(lat, 0.99), nil
}

// quantile is the q-quantile (nearest rank) of ds, 0 when empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// load2 picks the quick or the full figure.
func load2[T any](quick bool, q, full T) T {
	if quick {
		return q
	}
	return full
}

func (r jsResult) rows() []row {
	if r.pubErr != nil || r.consumeErr != nil {
		return []row{{Figure: "raw JetStream (baseline)", Value: fmt.Sprintf("failed: %v %v", r.pubErr, r.consumeErr), Met: "n/a"}}
	}
	mb := func(rate float64) string { return fmt.Sprintf("%.0f MB/s", rate*float64(r.msgBytes)/1e6) }
	return []row{
		{Figure: fmt.Sprintf("raw JetStream publish, file storage, %d B msgs (a node's %d containers)", r.msgBytes, benchContainers),
			Value:    rate(r.pubRate, "msg/s") + ", " + mb(r.pubRate) + ", " + rate(r.pubRate*benchContainers, "container samples/s"),
			Baseline: "this is the baseline", Ratio: "—", Target: "—", Met: "—"},
		{Figure: "raw JetStream consume, durable pull, explicit ack",
			Value:    rate(r.consRate, "msg/s") + ", " + mb(r.consRate),
			Baseline: "this is the baseline", Ratio: "—", Target: "—", Met: "—"},
		{Figure: "raw JetStream publish → delivery round trip",
			Value:    fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", msf(r.latP50), msf(r.latP99)),
			Baseline: "this is the baseline", Ratio: "—", Target: "—", Met: "—"},
	}
}

// msf is d in milliseconds.
func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

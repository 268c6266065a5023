package rebooter_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/rebooter"
)

// memBoot is a boot id the bench's rebooter double changes, as a reboot would.
type memBoot struct {
	mu sync.Mutex
	id string
}

func (b *memBoot) Current() (string, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.id, nil }
func (b *memBoot) set(id string)            { b.mu.Lock(); b.id = id; b.mu.Unlock() }

// stampRebooter notes when it was invoked and gives the node a new boot id.
type stampRebooter struct {
	boot    *memBoot
	invoked chan time.Time
}

func (r *stampRebooter) Reboot(context.Context) error {
	r.invoked <- time.Now()
	r.boot.set(newBootID())
	return nil
}

// BenchmarkRequestToReboot measures the latency: RebootRequired published → reboot
// invoked, no alerts, lock free (target p99 under 1 s; kured's is up to its --period, an hour by
// default). Each op is one request on a node that completed the previous one. The baseline is a
// bare JetStream publish round trip on the same server.
func BenchmarkRequestToReboot(b *testing.B) {
	srv := testenv.StartJetStream(b)
	srv.Provision(b)
	nc, js := srv.Connect(b)
	const node = "ip-10-0-0-9.ec2.internal"
	boot := &memBoot{id: newBootID()}
	rb := &stampRebooter{boot: boot, invoked: make(chan time.Time, 1)}
	cfg := defaults()
	cfg.Node, cfg.BootID, cfg.Rebooter = node, boot, rb
	cfg.Period = 20 * time.Millisecond // how soon it looks for the new boot after the reboot
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg.Common = testenv.Common(srv.ClientURL())
	go func() { done <- rebooter.Run(ctx, cfg) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	sp := subject.Space{}
	statusSubj, _ := sp.RebootStatus(node)
	completed := make(chan string, 16)
	sub, err := nc.Subscribe(statusSubj, func(m *nats.Msg) {
		var st nwv1.RebootStatus
		if proto.Unmarshal(m.Data, &st) == nil && st.Phase == nwv1.RebootPhase_REBOOT_PHASE_COMPLETED {
			completed <- st.RequestId
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	reqSubj, _ := sp.RebootRequired(node)

	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench:%d:%d", time.Now().UnixNano(), i)
		data, _ := proto.Marshal(&nwv1.RebootRequired{Node: node, RequestId: id, Reason: "bench"})
		t0 := time.Now()
		if _, err := js.Publish(ctx, reqSubj, data, jetstream.WithMsgID(id)); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-rb.invoked:
			lat = append(lat, at.Sub(t0))
		case <-time.After(30 * time.Second):
			b.Fatalf("request %s: no reboot within 30 s", id)
		}
		for got := ""; got != id; {
			select {
			case got = <-completed:
			case <-time.After(30 * time.Second):
				b.Fatalf("request %s: not completed within 30 s", id)
			}
		}
	}
	b.StopTimer()

	var base []time.Duration
	for i := range max(b.N, 50) {
		t0 := time.Now()
		if _, err := js.Publish(ctx, "nw.reboot.required.bench-baseline", []byte("x"), jetstream.WithMsgID(fmt.Sprint("base", i, time.Now().UnixNano()))); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t0))
	}
	p99, bp99 := percentile(lat, 0.99), percentile(base, 0.99)
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(bp99.Microseconds())/1000, "baseline-publish-p99-ms")
	b.ReportMetric(float64(p99)/float64(bp99), "p99/baseline")
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

package detector_test

import (
	"context"
	"fmt"
	"os"
	"sort"

	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// BenchmarkLineToProblem measures the time from publishing a kernel line that a rule matches to
// receiving the Problem the detector publishes for it, while 1,000 other nodes each send a
// batch of ordinary kernel lines every second. Reported: p50-ms and p99-ms over b.N probes.
func BenchmarkLineToProblem(b *testing.B) {
	srv := testenv.StartJetStream(b)
	srv.Provision(b)
	nc, js := srv.Connect(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDetector(b, srv.URL(), nil)

	// Background: 1,000 nodes, one batch of 2 benign lines per node per second, spread evenly.
	nodes := 1000
	if os.Getenv("NW_BENCH_NO_BACKGROUND") != "" {
		nodes = 0
	}
	go func() {
		if nodes == 0 {
			return
		}
		seqs := make([]uint64, nodes)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for i := 0; ; i = (i + 1) % nodes {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			node := fmt.Sprintf("bg-%04d", i)
			bt := &nwv1.LogBatch{Node: node, Source: "kernel-monitor", Time: timestamppb.Now(), FirstSeq: seqs[i] + 1, StreamId: "kmsg:bg"}
			for range 2 {
				seqs[i]++
				bt.Lines = append(bt.Lines, &nwv1.LogLine{Time: timestamppb.Now(), Seq: seqs[i], Message: "audit: type=1400 apparmor=\"STATUS\" operation=\"profile_replace\""})
			}
			data, _ := proto.Marshal(bt)
			js.PublishAsync("nw.log.kernel-monitor."+node, data, jetstream.WithMsgID(msgid.LogBatch(node, "kernel-monitor", bt.StreamId, bt.FirstSeq)))
		}
	}()

	got := make(chan time.Time, 16)
	sub, err := nc.Subscribe("nw.problem.probe", func(m *nats.Msg) { got <- time.Now() })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	probe := &logger{js: js, node: "probe", source: "kernel-monitor"}
	// Warm up: the first line waits for the partition leases.
	probe.send(b, "BUG: unable to handle kernel NULL pointer dereference at 0000000000000000")
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		b.Fatal("no problem for the warm-up line within 30s")
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		probe.send(b, fmt.Sprintf("BUG: unable to handle kernel NULL pointer dereference at %016x", i+1))
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("probe %d: no problem within 10s", i)
		}
		time.Sleep(20 * time.Millisecond) // probes apart, as real problems are
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.9), "p90-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

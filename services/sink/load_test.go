package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// load publishes container samples of simulated nodes: nodes × containers points per round.
type load struct {
	js         jetstream.JetStream
	nodes      int
	containers int
	start      time.Time // the simulated collectors' start, part of the message ids
	base       time.Time // the first sample's time
	published  atomic.Int64
}

func nodeName(i int) string { return fmt.Sprintf("ip-10-1-%d-%d.ec2.internal", i/250, i%250) }

// containerSamples is node i's sample of round r: counters grow with r, so values are checkable.
func (l *load) containerSamples(i, r int) *nwv1.ContainerSamples {
	cs := &nwv1.ContainerSamples{Node: nodeName(i), Time: timestamppb.New(l.base.Add(time.Duration(r) * 10 * time.Second)),
		Seq: uint64(r + 1), CollectorStart: timestamppb.New(l.start)}
	for c := range l.containers {
		pod := fmt.Sprintf("app-%d", c)
		cs.Containers = append(cs.Containers, &nwv1.ContainerSample{
			Id: fmt.Sprintf("%064x", i*1000+c), PodUid: fmt.Sprintf("uid-%d-%d", i, c), QosClass: nwv1.QOSClass_QOS_CLASS_BURSTABLE,
			Name: "main", PodName: pod, Namespace: "default", Image: "registry.k8s.io/app:1",
			CgroupPath: fmt.Sprintf("/kubepods/burstable/pod%d/%d", c, i), CgroupVersion: 2,
			Cpu: &nwv1.ContainerCPU{UsageSeconds: float64(r) * 1.5, Periods: uint64(r * 100), ThrottledPeriods: uint64(r * 10),
				QuotaUsec: 50000, PeriodUsec: 100000},
			Memory: &nwv1.ContainerMemory{UsageBytes: 200 << 20, WorkingSetBytes: uint64(100<<20 + r), LimitBytes: 512 << 20},
		})
	}
	return cs
}

// publish sends rounds [from, to) of every node.
func (l *load) publish(ctx context.Context, t testing.TB, from, to int) {
	t.Helper()
	sp := subject.Space{}
	for r := from; r < to; r++ {
		for i := range l.nodes {
			m := l.containerSamples(i, r)
			subj, _ := sp.ContainerSamples(m.Node)
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			id := msgid.ContainerSamples(m.Node, l.start, m.Seq)
			if _, err := l.js.Publish(ctx, subj, b, jetstream.WithMsgID(id)); err != nil {
				t.Fatalf("publish: %v", err)
			}
			l.published.Add(int64(len(m.Containers)))
		}
	}
}

// influxCount is the number of container points in InfluxDB.
func influxCount(t testing.TB, in *testenv.Influx) int64 {
	t.Helper()
	res := in.Query(t, `SELECT count("cpu_usage_seconds") FROM "container"`)
	if len(res) == 0 || len(res[0].Values) == 0 {
		return 0
	}
	switch v := res[0].Values[0][1].(type) {
	case json.Number:
		n, _ := v.Int64()
		return n
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return -1
}

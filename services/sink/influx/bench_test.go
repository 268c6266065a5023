package influx_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/services/sink/influx"
)

const (
	benchNodes      = 40
	benchSteps      = 50  // ContainerSamples per node
	benchContainers = 100 // containers per message: 40 × 50 × 100 = 200,000 points
	benchBatch      = 5000
)

// BenchmarkSinkVsRaw writes the same 200,000 container points to one InfluxDB twice per
// iteration: (a) with influxdb-client-go alone, points built beforehand, in blocking writes of
// 5,000 (the raw rate); (b) through the sink: published to JetStream first, then consumed,
// converted and written by the Output's consumers. Reported: points/s of both and sink/raw.
func BenchmarkSinkVsRaw(b *testing.B) {
	e := setup(b, benchBatch)
	client := influxdb2.NewClient(e.in.URL, "")
	defer client.Close()
	raw := client.WriteAPIBlocking("", e.in.Bucket)
	ctx := context.Background()
	var rawTime, sinkTime time.Duration
	points := 0
	for iter := 0; b.Loop(); iter++ {
		// Each iteration writes new series times, so nothing is an overwrite of the last.
		offset := time.Duration(iter) * time.Duration(benchSteps) * time.Second

		b.StopTimer()
		var pts []*write.Point
		for s := range benchSteps {
			for n := range benchNodes {
				p, err := influx.Points(simulatedContainers(fmt.Sprintf("raw-%d", n), e.base.Add(offset+time.Duration(s)*time.Second), benchContainers))
				if err != nil {
					b.Fatal(err)
				}
				pts = append(pts, p...)
			}
		}
		points = len(pts)
		// The sink's messages are published as collectors publish them: every node once
		// per interval; the raw points above are in the same order.
		for s := range benchSteps {
			for n := range benchNodes {
				node := fmt.Sprintf("sink-%d", n)
				subj, _ := e.sp.ContainerSamples(node)
				e.publish(b, subj, fmt.Sprintf("%s:%d:%d", node, iter, s),
					simulatedContainers(node, e.base.Add(offset+time.Duration(s)*time.Second), benchContainers))
			}
		}
		before := written(b, e.reg)
		b.StartTimer()
		start := time.Now()
		stop := e.run(b)
		deadline := time.Now().Add(5 * time.Minute)
		for written(b, e.reg) < before+float64(points) {
			if time.Now().After(deadline) {
				b.Fatal("the sink did not write every point within 5 minutes")
			}
			time.Sleep(2 * time.Millisecond) // polling a metric; a wait on a condition with a deadline
		}
		sinkTime += time.Since(start)
		b.StopTimer()
		stop()
		b.StartTimer()
		start = time.Now()
		for i := 0; i < len(pts); i += benchBatch {
			if err := raw.WritePoint(ctx, pts[i:min(i+benchBatch, len(pts))]...); err != nil {
				b.Fatal(err)
			}
		}
		rawTime += time.Since(start)
	}
	total := float64(points * b.N)
	rawRate, sinkRate := total/rawTime.Seconds(), total/sinkTime.Seconds()
	b.ReportMetric(rawRate, "raw-points/s")
	b.ReportMetric(sinkRate, "sink-points/s")
	b.ReportMetric(sinkRate/rawRate, "sink/raw")
}

func written(t testing.TB, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "nodewarden_sink_influx_points_written_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

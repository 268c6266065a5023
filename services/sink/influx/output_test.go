package influx_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/sink/influx"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// countField names, per measurement, a field every point of it carries.
var countField = map[string]string{
	influx.MeasurementContainer:    "pids",
	influx.MeasurementProblem:      "count",
	influx.MeasurementRebootStatus: "phase_code",
}

type env struct {
	js   jetstream.JetStream
	pub  *publish.Publisher
	sp   subject.Space
	in   *testenv.Influx
	out  *influx.Output
	reg  *prometheus.Registry
	base time.Time
}

func setup(t testing.TB, batch int) *env {
	t.Helper()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	if _, err := topology.Provision(context.Background(), js, topology.DefaultSettings(), quiet); err != nil {
		t.Fatal(err)
	}
	e := &env{js: js, pub: publish.New(js, prometheus.NewRegistry()), in: testenv.StartInflux(t),
		reg: prometheus.NewRegistry(), base: time.Now().Add(-time.Hour).Truncate(time.Second)}
	o := influx.DefaultOptions()
	o.URL, o.Bucket, o.Batch, o.Flush = e.in.URL, e.in.Bucket, batch, 100*time.Millisecond
	out, err := influx.New(o, quiet, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	e.out = out
	return e
}

// run starts the output's consumers until the returned stop is called or the test ends.
func (e *env) run(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	m := consume.NewMetrics(prometheus.NewRegistry())
	for _, cfg := range e.out.Consumers(e.sp) {
		cfg.RetryBase, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
		c, err := consume.New(e.js, e.pub, cfg, quiet, m)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = c.Run(ctx) })
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func (e *env) publish(t testing.TB, subj, id string, m proto.Message) {
	t.Helper()
	if _, err := e.pub.Publish(context.Background(), subj, id, m, nil); err != nil {
		t.Fatal(err)
	}
}

// containerSamples publishes one ContainerSamples message of n containers for node at step i.
func (e *env) containerSamples(t testing.TB, node string, i, n int) {
	subj, err := e.sp.ContainerSamples(node)
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t, subj, fmt.Sprintf("%s:c:%d", node, i), simulatedContainers(node, e.base.Add(time.Duration(i)*time.Second), n))
}

func simulatedContainers(node string, at time.Time, n int) *nwv1.ContainerSamples {
	m := &nwv1.ContainerSamples{Node: node, Time: timestamppb.New(at)}
	for c := range n {
		m.Containers = append(m.Containers, &nwv1.ContainerSample{
			Id: fmt.Sprintf("%s-%04d", node, c), PodName: fmt.Sprintf("pod-%d", c/2), Namespace: "default",
			Name: fmt.Sprintf("c%d", c%2), QosClass: nwv1.QOSClass_QOS_CLASS_BURSTABLE, Pids: uint64(c + 1),
			Cpu:    &nwv1.ContainerCPU{UsageSeconds: float64(at.Unix()%1000) + float64(c), Periods: uint64(c), QuotaUsec: -1},
			Memory: &nwv1.ContainerMemory{WorkingSetBytes: uint64(c) << 20, LimitBytes: 1 << 30},
		})
	}
	return m
}

func (e *env) problem(t testing.TB, node string, i int) {
	subj, _ := e.sp.Problem(node)
	id := fmt.Sprintf("p-%d", i)
	e.publish(t, subj, id, &nwv1.Problem{Node: node, Time: timestamppb.New(e.base.Add(time.Duration(i) * time.Millisecond)),
		Id: id, Source: "kernel-monitor", Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: "OOMKilling"})
}

func (e *env) rebootStatus(t testing.TB, node string, i int) {
	subj, _ := e.sp.RebootStatus(node)
	e.publish(t, subj, fmt.Sprintf("r:%d", i), &nwv1.RebootStatus{Node: node, Time: timestamppb.New(e.base.Add(time.Duration(i) * time.Millisecond)),
		RequestId: "r-1", Phase: nwv1.RebootPhase_REBOOT_PHASE_DRAINING, Detail: "draining", Seq: uint64(i)})
}

// count returns how many points of a measurement InfluxDB holds.
func (e *env) count(t testing.TB, measurement string) int {
	series := e.in.Query(t, fmt.Sprintf(`SELECT count(%q) FROM %q`, countField[measurement], measurement))
	if len(series) == 0 {
		return 0
	}
	var n int
	fmt.Sscan(fmt.Sprint(series[0].Values[0][1]), &n)
	return n
}

// settled waits until both durables have delivered and settled everything.
func (e *env) settled(t testing.TB) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, "the consumers to settle", func() bool {
		for _, cfg := range e.out.Consumers(e.sp) {
			c, err := e.js.Consumer(context.Background(), cfg.Stream, cfg.Durable)
			if err != nil {
				return false
			}
			info, err := c.Info(context.Background())
			if err != nil || info.NumAckPending != 0 || info.NumPending != 0 {
				return false
			}
		}
		return true
	})
}

func (e *env) deadLetters(t testing.TB) []*jetstream.RawStreamMsg {
	ctx := context.Background()
	st, err := e.js.Stream(ctx, topology.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		if m, err := st.GetMsg(ctx, seq); err == nil {
			out = append(out, m)
		}
	}
	return out
}

func TestExactlyNPointsAndRedeliveryOverwrites(t *testing.T) {
	e := setup(t, 50) // small batches, so the load spans many writes
	const msgs, containers, problems, reboots = 20, 10, 5, 3
	for i := range msgs {
		e.containerSamples(t, fmt.Sprintf("node-%d", i%4), i, containers)
	}
	for i := range problems {
		e.problem(t, "node-a", i)
	}
	for i := range reboots {
		e.rebootStatus(t, "node-a", i)
	}
	want := map[string]int{influx.MeasurementContainer: msgs * containers,
		influx.MeasurementProblem: problems, influx.MeasurementRebootStatus: reboots}
	check := func(what string) {
		t.Helper()
		for m, n := range want {
			if got := e.count(t, m); got != n {
				t.Errorf("%s: %d %s points, want %d", what, got, m, n)
			}
		}
	}
	stop := e.run(t)
	e.settled(t)
	check("first delivery")

	// Every message delivered and written again, as after a lost ack: still exactly N.
	stop()
	for _, cfg := range e.out.Consumers(e.sp) {
		if err := e.js.DeleteConsumer(context.Background(), cfg.Stream, cfg.Durable); err != nil {
			t.Fatal(err)
		}
	}
	e.run(t)
	e.settled(t)
	check("redelivery")
	if got := written(t, e.reg); got != float64(2*(msgs*containers+problems+reboots)) {
		t.Errorf("points written metric = %v, want every point twice", got)
	}
	if n := len(e.deadLetters(t)); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// TestRejectedPointIsDeadLettered provokes the 400 InfluxDB gives for a field type conflict.
// It happens for real when another writer (or an older schema) already stored a field of the
// same measurement with another type in the same shard: here "detail" of reboot_status is
// stored as an integer first, so the sink's string "detail" is refused. Only the reboot
// status message must be dead-lettered; the problems in the same batch are written.
func TestRejectedPointIsDeadLettered(t *testing.T) {
	e := setup(t, 100)
	client := influxdb2.NewClient(e.in.URL, "")
	defer client.Close()
	foreign := influxdb2.NewPoint(influx.MeasurementRebootStatus, map[string]string{"node": "other"},
		map[string]any{"detail": int64(1), "phase_code": int64(0)}, e.base)
	if err := client.WriteAPIBlocking("", e.in.Bucket).WritePoint(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	const problems = 6
	for i := range problems {
		e.problem(t, "node-a", i)
		if i == 3 {
			e.rebootStatus(t, "node-a", 1)
		}
	}
	e.run(t)
	e.settled(t)
	if got := e.count(t, influx.MeasurementProblem); got != problems {
		t.Errorf("%d problems written, want %d", got, problems)
	}
	dead := e.deadLetters(t)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	rs, _ := e.sp.RebootStatus("node-a")
	if got := dead[0].Header.Get(consume.HeaderOriginalSubject); got != rs {
		t.Errorf("dead letter of %s, want %s", got, rs)
	}
	if reason := dead[0].Header.Get(consume.HeaderReason); !strings.Contains(reason, "field type conflict") {
		t.Errorf("dead letter reason %q does not name the conflict", reason)
	}
}

func TestInfluxStoppedMidLoad(t *testing.T) {
	e := setup(t, 100)
	e.run(t)
	const msgs, containers = 60, 10
	published := make(chan struct{})
	var pubErr error
	go func() {
		defer close(published)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := range msgs {
			<-tick.C
			subj, _ := e.sp.ContainerSamples("node-a")
			m := simulatedContainers("node-a", e.base.Add(time.Duration(i)*time.Second), containers)
			if _, err := e.pub.Publish(context.Background(), subj, fmt.Sprintf("c:%d", i), m, nil); err != nil {
				pubErr = err
				return
			}
		}
	}()
	testenv.WaitFor(t, 30*time.Second, "some points written", func() bool { return e.count(t, influx.MeasurementContainer) > 0 })
	e.in.Stop()
	// The outage lasts while the load goes on; the output must notice it (failed writes) and
	// hold the messages, not drop or dead-letter them.
	outage := time.After(3 * time.Second)
	testenv.WaitFor(t, 10*time.Second, "a failed write", func() bool {
		mfs, _ := e.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "nodewarden_sink_influx_write_errors_total" {
				return true
			}
		}
		return false
	})
	<-outage
	e.in.Start(t)
	<-published
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	testenv.WaitFor(t, 60*time.Second, "every point", func() bool { return e.count(t, influx.MeasurementContainer) >= msgs*containers })
	e.settled(t)
	if got := e.count(t, influx.MeasurementContainer); got != msgs*containers {
		t.Fatalf("%d container points after the outage, want exactly %d", got, msgs*containers)
	}
	if n := len(e.deadLetters(t)); n != 0 {
		t.Errorf("%d dead letters after an outage", n)
	}
}

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// sampleLoad is the simulated cluster of the sample fault tests: small enough for `make test`
// on a shared 2-core machine, the figures with NW_E2E_FULL=1.
type sampleLoad struct {
	nodes, containers  int
	interval, duration time.Duration
}

func faultLoad() sampleLoad {
	return sampleLoad{
		nodes:      load(20, 200),
		containers: load(10, 30),
		interval:   load(2*time.Second, 10*time.Second),
		duration:   load(25*time.Second, 90*time.Second),
	}
}

// start runs simulate with l against e's bus.
func (l sampleLoad) start(e *Env) *SimRun {
	return e.StartSimulate("--nodes", strconv.Itoa(l.nodes), "--containers", strconv.Itoa(l.containers),
		"--interval", l.interval.String(), "--duration", l.duration.String(), "--log-rate", "0", "--seed", "7")
}

// sinkArgs make the sink batch per interval and keep every simulated series fresh.
func (l sampleLoad) sinkArgs() []string {
	return []string{"--sample-interval=" + l.interval.String(), "--stale-after=10m"}
}

// samplesStored is the SAMPLES stream's last sequence: it grows while publishes are stored.
func (e *Env) samplesStored() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.Bus().Stream(ctx, "SAMPLES")
	if err != nil {
		return 0
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.LastSeq
}

// waitLoadFlowing waits until the simulated samples reach InfluxDB: the fault then hits a
// pipeline under load.
func (e *Env) waitLoadFlowing() {
	e.T.Helper()
	e.WaitFor(30*time.Second, "simulated container points in InfluxDB", func() bool {
		return e.InfluxSamplePoints().Container > 0
	})
}

// waitStoredGrows waits until the bus stored n more messages: load went on through the fault
// (8 × nodes is two intervals of every simulated node's four messages).
func (e *Env) waitStoredGrows(n uint64, what string) {
	e.T.Helper()
	from := e.samplesStored()
	e.WaitFor(60*time.Second, fmt.Sprintf("%d more messages stored %s", n, what), func() bool {
		return e.samplesStored() >= from+n
	})
}

// finishSampleFault waits for simulate, checks the bus holds what it reported, and then that
// InfluxDB holds exactly the bus's points per measurement.
func (e *Env) finishSampleFault(sim *SimRun, l sampleLoad) Published {
	e.T.Helper()
	r := sim.Wait(e, l.duration+60*time.Second)
	e.T.Logf("simulate: %s", r.Summary)
	p := e.StoredSamples()
	e.CheckPublished(r, p, l.nodes)
	e.WaitInfluxExactly(load(60*time.Second, 180*time.Second), p)
	return p
}

// kill -9 the sink mid-load and start it again: InfluxDB ends with exactly the points the bus
// stored, per measurement (redelivered batches overwrite, never add), and Prometheus, scraping
// the restarted sink, has every simulated node.
func TestFaultSinkKilled(t *testing.T) {
	l := faultLoad()
	e := Start(t, Options{Influx: true, Prometheus: true, Sink: true,
		ScrapeInterval: load(time.Second, 5*time.Second),
		Args:           map[string][]string{"sink": l.sinkArgs()}})
	sim := l.start(e)
	e.waitLoadFlowing()

	e.Sink.Kill()
	killed := time.Now()
	e.waitStoredGrows(uint64(8*l.nodes), "while the sink is dead")
	e.Sink.Start(t)
	t.Logf("sink dead for %s", time.Since(killed).Round(time.Millisecond))

	e.finishSampleFault(sim, l)
	ctx, cancel := context.WithTimeout(context.Background(), load(60*time.Second, 180*time.Second))
	defer cancel()
	for _, q := range []string{
		`count(count by (node) (container_cpu_usage_seconds_total{node=~"sim-node-.*"}))`,
		`count(count by (node) (node_cpu_seconds_total{node=~"sim-node-.*"}))`,
	} {
		want := float64(l.nodes)
		if _, err := e.Prom.WaitQuery(ctx, q, func(s []testenv.PromSample) bool { return len(s) == 1 && s[0].Value == want }); err != nil {
			e.Fatalf("Prometheus %s: %v (want %v nodes)", q, err, want)
		}
	}
}

// InfluxDB stopped for a while under load (30 s at full load) and started again: the sink
// holds its batches unacknowledged meanwhile, and InfluxDB ends with exactly the bus's points.
func TestFaultInfluxDown(t *testing.T) {
	l := faultLoad()
	outage := load(10*time.Second, 30*time.Second)
	e := Start(t, Options{Influx: true, Sink: true, Args: map[string][]string{"sink": l.sinkArgs()}})
	sim := l.start(e)
	e.waitLoadFlowing()

	e.Influx.Stop()
	time.Sleep(outage) // the outage itself: its length is the point, there is nothing to wait on
	e.Influx.Start(t)
	if v := metricSum(e.Sink.Metrics(), "nodewarden_sink_influx_write_errors_total"); v < 1 {
		e.Fatalf("the sink counted %v InfluxDB write errors during the outage, want some", v)
	}
	if !e.Sink.Running() {
		e.Fatalf("the sink exited while InfluxDB was down: %v", e.Sink.exitErr())
	}
	e.finishSampleFault(sim, l)
}

// The single NATS server (file storage) restarts under load: every service is ready again,
// InfluxDB ends with exactly the bus's points, and a kernel oops written before and one
// written after the restart are each exactly one problem point.
func TestFaultNATSRestart(t *testing.T) {
	l := faultLoad()
	const node = "nats-restart.e2e.internal"
	e := Start(t, Options{Nodes: []string{node}, Influx: true, Detectors: 1, Sink: true,
		Args: map[string][]string{"sink": l.sinkArgs()}})
	n := e.Node(node)
	before := fmt.Sprintf("BUG: unable to handle kernel NULL pointer dereference at %016x", 0xbef0)
	n.Kmsg(t, 1, before)
	e.WaitFor(30*time.Second, "the oops written before the restart in InfluxDB", func() bool {
		return len(e.problemPoints(node, "KernelOops", "event")) == 1
	})
	sim := l.start(e)
	e.waitLoadFlowing()

	e.JS.Restart()
	restarted := time.Now()
	for _, p := range e.Procs() {
		e.WaitFor(60*time.Second, p.Name+" reconnected to NATS", func() bool {
			m := p.Metrics()
			return metricSum(m, "nodewarden_nats_reconnects_total") >= 1 && metricSum(m, "nodewarden_nats_connected") >= 1
		})
		if err := p.waitReady(60 * time.Second); err != nil {
			e.Fatalf("%s after the NATS restart: %v", p.Name, err)
		}
	}
	t.Logf("every service reconnected and ready %s after the restart", time.Since(restarted).Round(time.Millisecond))
	e.waitStoredGrows(uint64(8*l.nodes), "after the restart")
	after := fmt.Sprintf("BUG: unable to handle kernel NULL pointer dereference at %016x", 0xaf7e)
	n.Kmsg(t, 1, after)

	e.finishSampleFault(sim, l)
	e.WaitFor(30*time.Second, "the oops written after the restart in InfluxDB", func() bool {
		return len(e.problemPoints(node, "KernelOops", "event")) >= 2
	})
	got := map[string]int{}
	for _, m := range e.problemPoints(node, "KernelOops", "event") {
		got[m]++
	}
	if len(got) != 2 || got[before] != 1 || got[after] != 1 {
		e.Fatalf("KernelOops points by message: %v, want one of %q and one of %q", got, before, after)
	}
}

// One server of the 3-server cluster (streams replicated 3) stops under load, the SAMPLES
// leader so the stream must elect another, and starts again: publishes go on, and InfluxDB
// ends with exactly the bus's points.
func TestFaultClusterServerDown(t *testing.T) {
	l := faultLoad()
	e := Start(t, Options{Cluster: true, Influx: true, Sink: true, Args: map[string][]string{"sink": l.sinkArgs()}})
	sim := l.start(e)
	e.waitLoadFlowing()

	i := e.samplesLeader()
	down := e.Cluster.Servers[i]
	down.Stop()
	t.Logf("stopped %s, the SAMPLES leader", down.Name())
	e.waitStoredGrows(uint64(8*l.nodes), "with a server down")
	s, err := down.Restart()
	if err != nil {
		e.Fatalf("restart %s: %v", down.Name(), err)
	}
	e.Cluster.Servers[i] = s // the cluster's cleanup stops the new one
	e.finishSampleFault(sim, l)
}

// samplesLeader is the index in e.Cluster.Servers of the server leading SAMPLES.
func (e *Env) samplesLeader() int {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.Bus().Stream(ctx, "SAMPLES")
	if err != nil {
		e.Fatalf("stream SAMPLES: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		e.Fatalf("SAMPLES cluster info: %v", err)
	}
	for i, s := range e.Cluster.Servers {
		if s.Name() == info.Cluster.Leader {
			return i
		}
	}
	e.Fatalf("SAMPLES leader %q is none of the cluster's servers", info.Cluster.Leader)
	return 0
}

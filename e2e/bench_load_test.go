package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// clusterSize is a simulated cluster: nodes × containers at the config's interval.
type clusterSize struct{ nodes, containers int }

func (s clusterSize) String() string { return fmt.Sprintf("%d×%d", s.nodes, s.containers) }

// capConfig is the capacity search: sizes tried in order, each for window.
type capConfig struct {
	sizes []clusterSize // with InfluxDB off
	// influxSizes are the sizes with InfluxDB on: finer, since InfluxDB (about 10 points per
	// container sample) tops out near a tenth of the bus's sizes.
	influxSizes []clusterSize
	window      time.Duration // simulate's --duration per size
	interval    time.Duration // sample interval (the 10 s)
	drain       time.Duration // longest wait for the backlog to empty after a size
	// Background kernel lines per node per second, and the fraction a rule matches.
	logRate, matchRate float64
}

func capacityConfig(quick bool) capConfig {
	if quick {
		return capConfig{sizes: []clusterSize{{50, 10}, {200, 20}}, influxSizes: []clusterSize{{50, 10}, {200, 20}}, window: 25 * time.Second, interval: 10 * time.Second,
			drain: 30 * time.Second, logRate: 0.1, matchRate: 0.01}
	}
	var sizes, influxSizes []clusterSize
	for _, n := range []int{500, 1000, 2000, 3000, 4000, 6000, 8000, 10000, 12000, 14000} {
		sizes = append(sizes, clusterSize{n, benchContainers})
	}
	for _, n := range []int{250, 500, 750, 1000, 1500, 2000, 3000} {
		influxSizes = append(influxSizes, clusterSize{n, benchContainers})
	}
	return capConfig{sizes: sizes, influxSizes: influxSizes, window: 60 * time.Second, interval: 10 * time.Second, drain: 90 * time.Second,
		logRate: 0.1, matchRate: 0.01}
}

// stepResult is one size's run.
type stepResult struct {
	size             clusterSize
	ok               bool
	why              string  // why it did not hold, when it did not
	growth           float64 // worst consumer's backlog growth, fraction of what it had to handle
	worst            string  // that consumer
	msgs, skipped    int     // simulate's messages and skipped publishes
	containerSamples int     // container samples published (messages × containers)
	cpu              map[string]time.Duration
	wall             time.Duration // what cpu was measured over
	lat              latencies
}

// cpuPer1k is CPU seconds of process name per 1,000 container samples.
func (s stepResult) cpuPer1k(name string) (float64, bool) {
	d, ok := s.cpu[name]
	if !ok || s.containerSamples == 0 {
		return 0, false
	}
	return d.Seconds() / (float64(s.containerSamples) / 1000), true
}

// capResult is the search with InfluxDB off or on.
type capResult struct {
	influx bool
	steps  []stepResult
	err    string
}

// best is the largest size that held, if one did.
func (c capResult) best() (stepResult, bool) {
	for i := len(c.steps) - 1; i >= 0; i-- {
		if c.steps[i].ok {
			return c.steps[i], true
		}
	}
	return stepResult{}, false
}

// searchCapacity runs the pipeline (detector, sink, alerter, Alertmanager, Slack, and
// InfluxDB when influx) with no Prometheus scraping, and steps through cfg's sizes until one
// does not hold: backlog growth ≥ 1 %, or the load generator could not keep its schedule.
func searchCapacity(t *testing.T, cfg capConfig, influx bool) capResult {
	res := capResult{influx: influx}
	name := "capacity-influx-off"
	if influx {
		name = "capacity-influx-on"
	}
	ok := t.Run(name, func(t *testing.T) {
		const probeNode = "probe-0.e2e.internal"
		// The alerter at its default resend interval, as an operator runs it (the tests' 1 s
		// re-posts every firing and recently resolved alert each second).
		args := map[string][]string{"sink": {"--sample-interval=" + cfg.interval.String()}, "alerter": {"--resend-interval=1m"}}
		if os.Getenv("NW_BENCH_PPROF") == "1" {
			// To profile a step: the services' addresses are in the test log.
			for _, k := range []string{"detector", "sink", "alerter"} {
				args[k] = append(args[k], "--debug-pprof")
			}
		}
		e := Start(t, Options{Nodes: []string{probeNode}, Influx: influx, Alertmanager: true, Slack: true,
			Detectors: 1, Sink: true, Alerter: true, Args: args})
		if os.Getenv("NW_BENCH_PPROF") == "1" {
			t.Logf("bench: pprof at detector %s, sink %s, alerter %s", e.Detectors[0].Addr, e.Sink.Addr, e.Alerter.Addr)
		}
		pr := newProber(e, e.Node(probeNode))
		meter := cpuMeter{pids: map[string]string{"NATS server": "self", "detector": procPID(e.Detectors[0]),
			"sink": procPID(e.Sink), "alerter": procPID(e.Alerter), "Alertmanager": childPID("prometheus-aler")}}
		if influx {
			meter.pids["InfluxDB"] = childPID("influxd")
		}
		sizes := cfg.sizes
		if influx {
			sizes = cfg.influxSizes
		}
		for _, size := range sizes {
			st := runStep(t, e, pr, meter, cfg, size)
			res.steps = append(res.steps, st)
			nAlerts := -1
			if as, err := e.Alerts(); err == nil {
				nAlerts = len(as)
			}
			t.Logf("bench: %s influx=%v: ok=%v growth=%.2f%% (%s) %s; Alertmanager holds %d alerts", size, influx, st.ok, st.growth*100, st.worst, st.why, nAlerts)
			if !st.ok {
				break
			}
		}
	})
	if !ok {
		res.err = "the run failed (see the test log)"
	}
	return res
}

// runStep runs `nodewarden simulate` at size for cfg.window while probing latency and
// sampling every consumer's pending count, then waits for the backlog to drain.
func runStep(t *testing.T, e *Env, pr *prober, meter cpuMeter, cfg capConfig, size clusterSize) stepResult {
	st := stepResult{size: size}
	js := e.Bus()
	cpu0, start := meter.snapshot(), time.Now()

	cmd := exec.Command(bin(t, "nodewarden"), "simulate", "--nats-url", e.NATSURL,
		"--nodes", strconv.Itoa(size.nodes), "--containers", strconv.Itoa(size.containers),
		"--interval", cfg.interval.String(), "--duration", cfg.window.String(),
		"--log-rate", strconv.FormatFloat(cfg.logRate, 'f', -1, 64),
		"--match-rate", strconv.FormatFloat(cfg.matchRate, 'f', -1, 64),
		"--seed", "1", "--log-level", "warn")
	cmd.Env = serviceEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		st.why = fmt.Sprintf("start simulate: %v", err)
		return st
	}
	simDone := make(chan error, 1)
	go func() { simDone <- cmd.Wait() }()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { pr.run(ctx, &st.lat) })
	var samples []pendingSample
	tick := time.NewTicker(500 * time.Millisecond)
	var simErr error
sampling:
	for {
		select {
		case simErr = <-simDone:
			break sampling
		case <-tick.C:
			if s, err := pendingNow(js); err == nil {
				samples = append(samples, s)
			}
		}
	}
	tick.Stop()
	cancel()
	wg.Wait()
	if s, err := pendingNow(js); err == nil {
		samples = append(samples, s)
	}
	st.growth, st.worst = backlogGrowth(samples, cfg.interval)

	drained := waitCond(cfg.drain, func() bool {
		s, err := pendingNow(js)
		return err == nil && s.total() == 0
	})
	st.cpu, st.wall = cpuDelta(cpu0, meter.snapshot()), time.Since(start)
	if cmd.ProcessState != nil {
		st.cpu["simulate (load generator)"] = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}

	m := simulateSummary.FindStringSubmatch(out.String())
	sk := simulateSkipped.FindStringSubmatch(out.String())
	switch {
	case simErr != nil || m == nil:
		st.why = fmt.Sprintf("simulate: %v; stdout %q stderr %q", simErr, out.String(), errOut.String())
		return st
	case m[2] != "0":
		st.why = fmt.Sprintf("simulate: %s publish errors", m[2])
		return st
	}
	st.msgs, _ = strconv.Atoi(m[1])
	cmsgs, _ := strconv.Atoi(m[3])
	st.containerSamples = cmsgs * size.containers
	if sk != nil {
		st.skipped, _ = strconv.Atoi(sk[1])
	}
	if !simOK(st) {
		// simulate prints a line per interval: when the schedule slipped shows here.
		t.Logf("bench: %s simulate output:\n%s", size, out.String())
	}
	switch {
	case !simOK(st):
		st.why = fmt.Sprintf("the load generator skipped %d of %d publishes (it could not keep the schedule)", st.skipped, st.msgs+st.skipped)
	case st.growth >= 0.01:
		st.why = fmt.Sprintf("backlog grew %.1f%% on %s", st.growth*100, st.worst)
	case !drained:
		st.why = fmt.Sprintf("the backlog did not drain within %s after the run", cfg.drain)
	case len(st.lat.problem) == 0:
		st.why = fmt.Sprintf("no latency probe completed (%d timed out)", st.lat.failed)
	default:
		st.ok = true
	}
	return st
}

// simOK is whether the load generator kept (within 1 %) its schedule.
func simOK(st stepResult) bool {
	return st.msgs == 0 || float64(st.skipped)/float64(st.msgs+st.skipped) < 0.01
}

// simulateSkipped is the skipped count of simulate's final line.
var simulateSkipped = regexp.MustCompile(`(?m)^done .* skipped=(\d+) `)

// consumerState is one consumer's counts at one moment.
type consumerState struct{ pending, delivered uint64 }

// pendingSample is every consumer's state at one moment.
type pendingSample struct {
	at  time.Time
	per map[string]consumerState // stream/consumer → state
}

func (s pendingSample) total() uint64 {
	var n uint64
	for _, c := range s.per {
		n += c.pending
	}
	return n
}

// pendingNow reads NumPending plus NumAckPending (and the delivered count) of every durable
// consumer of the streams the services consume: the detector's partitions, the sink's
// InfluxDB and Slack outputs, the alerter's.
func pendingNow(js jetstream.JetStream) (pendingSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := pendingSample{at: time.Now(), per: map[string]consumerState{}}
	for _, name := range []string{"SAMPLES", "LOGS", "DETECT", "EVENTS", "REBOOT"} {
		stream, err := js.Stream(ctx, name)
		if err != nil {
			return s, fmt.Errorf("stream %s: %w", name, err)
		}
		l := stream.ListConsumers(ctx)
		for ci := range l.Info() {
			if ci.Config.Durable == "" {
				// Ephemeral readers (the sink's Prometheus feed) keep only the latest state
				// and report a server-side pending that is no backlog of work.
				continue
			}
			s.per[name+"/"+ci.Name] = consumerState{pending: ci.NumPending + uint64(ci.NumAckPending), delivered: ci.Delivered.Consumer}
		}
		if err := l.Err(); err != nil {
			return s, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	return s, nil
}

// backlogGrowth is, over consumers present for the whole run, the largest rise of the pending
// trough (its minimum over the first interval against the last) as a fraction of the messages
// the consumer had to handle. Troughs, because publishes come in waves within an interval.
func backlogGrowth(samples []pendingSample, interval time.Duration) (float64, string) {
	if len(samples) < 2 {
		return 0, "no samples"
	}
	first, last := samples[0], samples[len(samples)-1]
	trough := func(name string, from, to time.Time) uint64 {
		lowest := ^uint64(0)
		for _, s := range samples {
			if c, ok := s.per[name]; ok && !s.at.Before(from) && !s.at.After(to) {
				lowest = min(lowest, c.pending)
			}
		}
		return lowest
	}
	worst, worstName := 0.0, "none"
	for name, c0 := range first.per {
		c1, ok := last.per[name]
		if !ok {
			continue
		}
		handled := float64(c1.pending+c1.delivered) - float64(c0.pending+c0.delivered)
		if handled < 100 {
			continue // too little traffic to say anything
		}
		start := trough(name, first.at, first.at.Add(interval))
		end := trough(name, last.at.Add(-interval), last.at)
		if g := (float64(end) - float64(start)) / handled; g > worst || worstName == "none" {
			worst, worstName = g, name
		}
	}
	return max(worst, 0), worstName
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// SimRun is a `nodewarden simulate` running in the background while a fault test breaks
// something.
type SimRun struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	done     chan struct{}
	exit     error
}

// StartSimulate runs `nodewarden simulate` against the bus with args (after --nats-url and
// --log-level warn); the test waits for it with Wait. It is killed at cleanup if still running.
func (e *Env) StartSimulate(args ...string) *SimRun {
	e.T.Helper()
	a := append([]string{"simulate", "--nats-url", e.NATSURL, "--log-level", "warn"}, args...)
	s := &SimRun{cmd: exec.Command(bin(e.T, "nodewarden"), a...), done: make(chan struct{})}
	s.cmd.Env = serviceEnv()
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.err
	if err := s.cmd.Start(); err != nil {
		e.Fatalf("start simulate: %v", err)
	}
	go func() { s.exit = s.cmd.Wait(); close(s.done) }()
	e.T.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// SimResult is what simulate reported it published.
type SimResult struct {
	Msgs, Errors, Container int
	Summary                 string // the final line
}

// Wait waits (at most timeout) for simulate to exit and returns its final summary; a non-zero
// exit or no summary fails the test. Errors are not a failure here: a fault makes some
// publishes fail, and the test counts what the bus stored instead.
func (s *SimRun) Wait(e *Env, timeout time.Duration) SimResult {
	e.T.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		e.Fatalf("simulate still running after %s", timeout) // its output is still being written
	}
	m := simulateSummary.FindStringSubmatch(s.out.String())
	if s.exit != nil || m == nil {
		e.Fatalf("simulate: %v, or no summary; stdout:\n%s\nstderr:\n%s", s.exit, s.out.String(), s.err.String())
	}
	var r SimResult
	r.Msgs, _ = strconv.Atoi(m[1])
	r.Errors, _ = strconv.Atoi(m[2])
	r.Container, _ = strconv.Atoi(m[3])
	r.Summary = strings.TrimSpace(m[0])
	return r
}

// Published counts the samples of the simulated nodes as the bus stored them, per InfluxDB
// measurement they become: the points the sink must write, exactly.
type Published struct {
	NodeMsgs, ContainerMsgs int // messages
	Node, Container, Health int // points: one per NodeSample, container, HealthReport
	Nodes                   map[string]bool
}

// StoredSamples reads every simulated node's sample and health message from SAMPLES.
func (e *Env) StoredSamples() Published {
	e.T.Helper()
	js := e.Bus()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var sp subject.Space
	c, err := js.OrderedConsumer(ctx, "SAMPLES", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{sp.All("sample.node"), sp.All("sample.container"), sp.All("health")}})
	if err != nil {
		e.Fatalf("read SAMPLES: %v", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		e.Fatalf("read SAMPLES: %v", err)
	}
	it, err := c.Messages()
	if err != nil {
		e.Fatalf("read SAMPLES: %v", err)
	}
	defer it.Stop()
	p := Published{Nodes: map[string]bool{}}
	for i := range int(info.NumPending) {
		m, err := it.Next()
		if err != nil {
			e.Fatalf("read SAMPLES after %d of %d messages: %v", i, info.NumPending, err)
		}
		subj := m.Subject()
		switch {
		case strings.HasPrefix(subj, sp.Join("sample", "container")+"."):
			var cs nwv1.ContainerSamples
			if err := proto.Unmarshal(m.Data(), &cs); err != nil {
				e.Fatalf("decode %s: %v", subj, err)
			}
			if simulated(cs.GetNode()) {
				p.ContainerMsgs++
				p.Container += len(cs.GetContainers())
				p.Nodes[cs.GetNode()] = true
			}
		case strings.HasPrefix(subj, sp.Join("sample", "node")+"."):
			var ns nwv1.NodeSample
			if err := proto.Unmarshal(m.Data(), &ns); err != nil {
				e.Fatalf("decode %s: %v", subj, err)
			}
			if simulated(ns.GetNode()) {
				p.NodeMsgs++
				p.Node++
			}
		default:
			var h nwv1.HealthReport
			if err := proto.Unmarshal(m.Data(), &h); err != nil {
				e.Fatalf("decode %s: %v", subj, err)
			}
			if simulated(h.GetNode()) {
				p.Health++
			}
		}
	}
	return p
}

func simulated(node string) bool { return strings.HasPrefix(node, "sim-node-") }

// InfluxSamplePoints counts the simulated nodes' points per measurement in InfluxDB.
func (e *Env) InfluxSamplePoints() Published {
	q := func(field, measurement string) int {
		return influxCount(e.Influx.Query(e.T, fmt.Sprintf(`SELECT count(%q) FROM %q WHERE "node" =~ /^sim-node-/`, field, measurement)))
	}
	return Published{Node: q("seq", "node"), Container: q("cpu_usage_seconds", "container"), Health: q("seq", "health")}
}

// points is the per-measurement part of p, for comparisons and messages.
func (p Published) points() [3]int { return [3]int{p.Node, p.Container, p.Health} }

func (p Published) String() string {
	return fmt.Sprintf("node %d, container %d, health %d points", p.Node, p.Container, p.Health)
}

// WaitInfluxExactly waits until InfluxDB holds at least want's points in every measurement,
// then fails unless it holds exactly that many: nothing lost, nothing doubled.
func (e *Env) WaitInfluxExactly(timeout time.Duration, want Published) {
	e.T.Helper()
	var got Published
	ok := waitCond(timeout, func() bool {
		got = e.InfluxSamplePoints()
		return got.Node >= want.Node && got.Container >= want.Container && got.Health >= want.Health
	})
	if !ok {
		e.Fatalf("InfluxDB holds %s after %s; the bus stored %s (points lost)", got, timeout, want)
	}
	if got.points() != want.points() {
		e.Fatalf("InfluxDB holds %s; the bus stored %s (points doubled)", got, want)
	}
	e.T.Logf("InfluxDB holds exactly the %s the bus stored", got)
}

// CheckPublished fails unless the bus stored what simulate reported as published, give or
// take the publishes that failed (a publish whose ack was lost in the fault may be stored).
func (e *Env) CheckPublished(r SimResult, p Published, nodes int) {
	e.T.Helper()
	if p.ContainerMsgs < r.Container || p.ContainerMsgs > r.Container+r.Errors {
		e.Fatalf("SAMPLES holds %d container sample messages; simulate reported %d stored and %d errors",
			p.ContainerMsgs, r.Container, r.Errors)
	}
	if len(p.Nodes) != nodes {
		e.Fatalf("container samples of %d simulated nodes on the bus, want %d", len(p.Nodes), nodes)
	}
}

// metricSum adds up every series of the metric name (labelled or not) in a /metrics text; -1
// when there is none.
func metricSum(text, name string) float64 {
	sum, found := 0.0, false
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return -1
	}
	return sum
}

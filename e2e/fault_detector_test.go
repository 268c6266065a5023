package e2e

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Two detector replicas share the partitions; kernel oops lines flow on several nodes, and one
// replica is killed -9 part way. The survivor takes its partitions over once their leases run
// out, and every line written becomes exactly one Problem on the bus and exactly one problem
// point in InfluxDB: none missing, none doubled.
func TestFaultDetectorKilled(t *testing.T) {
	var (
		nodes  = load(4, 8)
		rounds = load(30, 90) // lines per node, one every tick
		tick   = 200 * time.Millisecond
	)
	var names []string
	for i := range nodes {
		names = append(names, fmt.Sprintf("det-%d.e2e.internal", i+1))
	}
	e := Start(t, Options{Nodes: names, Influx: true, Detectors: 2, Sink: true,
		Args: map[string][]string{"detector": {"--lease-ttl=3s"}}})
	parts := e.partitions()
	e.WaitFor(30*time.Second, "both detectors holding partitions", func() bool {
		a, b := detectorPartitions(e.Detectors[0]), detectorPartitions(e.Detectors[1])
		return a > 0 && b > 0 && a+b == parts
	})
	problems := e.followProblems()

	// Each line is distinct (its address), so each must be exactly one problem.
	var lines []string
	victim := -1
	ticker := time.NewTicker(tick) // paces the writing; nothing is waited on
	defer ticker.Stop()
	for r := range rounds {
		for i, n := range e.Nodes {
			line := fmt.Sprintf("BUG: unable to handle kernel NULL pointer dereference at %016x", r*1000+i)
			n.Kmsg(t, 1, line)
			lines = append(lines, oopsKey(n.Name, line))
		}
		if victim < 0 && r == rounds/3 {
			// Kill a replica that is handling some of the nodes: one that emitted events.
			e.WaitFor(30*time.Second, "a detector emitting events", func() bool {
				for i, d := range e.Detectors {
					if metricValue(d.Metrics(), "nodewarden_detector_events_total") > 0 {
						victim = i
						return true
					}
				}
				return false
			})
			e.Detectors[victim].Kill()
			t.Logf("killed %s after %d lines", e.Detectors[victim].Name, len(lines))
		}
		<-ticker.C
	}
	survivor := e.Detectors[1-victim]
	e.WaitFor(30*time.Second, fmt.Sprintf("%s holding all %d partitions", survivor.Name, parts), func() bool {
		return detectorPartitions(survivor) == parts
	})

	e.WaitFor(60*time.Second, fmt.Sprintf("%d KernelOops problems on the bus", len(lines)), func() bool {
		return problems.count() >= len(lines)
	})
	byLine, byID := problems.snapshot()
	for _, l := range lines {
		if byLine[l] != 1 {
			e.Fatalf("%d Problems on the bus for the line %s, want 1 (%d lines, %d problems)",
				byLine[l], l, len(lines), problems.count())
		}
	}
	for id, c := range byID {
		if c != 1 {
			e.Fatalf("Problem id %s stored %d times", id, c)
		}
	}
	if len(byLine) != len(lines) {
		e.Fatalf("%d distinct KernelOops problems on the bus, %d lines written", len(byLine), len(lines))
	}

	e.WaitFor(60*time.Second, fmt.Sprintf("%d KernelOops points in InfluxDB", len(lines)), func() bool {
		return e.oopsPoints(names) >= len(lines)
	})
	points := map[string]int{}
	for _, name := range names {
		for _, m := range e.problemPoints(name, "KernelOops", "event") {
			points[oopsKey(name, m)]++
		}
	}
	for _, l := range lines {
		if points[l] != 1 {
			e.Fatalf("%d problem points in InfluxDB for line %q, want 1", points[l], l)
		}
	}
	if len(points) != len(lines) {
		e.Fatalf("%d distinct problem points in InfluxDB, %d lines written", len(points), len(lines))
	}
	t.Logf("%d lines on %d nodes: %d Problems on the bus, %d points in InfluxDB", len(lines), nodes, len(byID), len(points))
}

// oopsAddr is the address of the numbered oops lines, which tells them apart.
var oopsAddr = regexp.MustCompile(`dereference at ([0-9a-f]{16})`)

// oopsKey names an oops line (or a problem whose message holds one) by node and address.
func oopsKey(node, msg string) string {
	addr := "?" + msg
	if m := oopsAddr.FindStringSubmatch(msg); m != nil {
		addr = m[1]
	}
	return node + " at " + addr
}

// partitions is the bus's partition count.
func (e *Env) partitions() int {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := topology.Partitions(ctx, e.Bus())
	if err != nil {
		e.Fatalf("partition count: %v", err)
	}
	return p
}

func detectorPartitions(p *Proc) int {
	return int(metricValue(p.Metrics(), "nodewarden_detector_partitions_held"))
}

// oopsPoints counts the KernelOops points of nodes in InfluxDB.
func (e *Env) oopsPoints(nodes []string) int {
	n := 0
	for _, name := range nodes {
		n += len(e.problemPoints(name, "KernelOops", "event"))
	}
	return n
}

// problemLog counts the KernelOops Problems stored in EVENTS, by node and message and by id.
type problemLog struct {
	mu     sync.Mutex
	byLine map[string]int
	byID   map[string]int
	n      int
}

func (e *Env) followProblems() *problemLog {
	e.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.T.Cleanup(cancel)
	var sp subject.Space
	c, err := e.Bus().OrderedConsumer(ctx, "EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{sp.All("problem")}})
	if err != nil {
		e.Fatalf("follow problems: %v", err)
	}
	l := &problemLog{byLine: map[string]int{}, byID: map[string]int{}}
	cc, err := c.Consume(func(m jetstream.Msg) {
		var p nwv1.Problem
		if proto.Unmarshal(m.Data(), &p) != nil || p.GetReason() != "KernelOops" {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.byLine[oopsKey(p.GetNode(), p.GetMessage())]++
		l.byID[p.GetId()]++
		l.n++
	})
	if err != nil {
		e.Fatalf("follow problems: %v", err)
	}
	e.T.Cleanup(cc.Stop)
	return l
}

func (l *problemLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *problemLog) snapshot() (byLine, byID map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byLine, byID = map[string]int{}, map[string]int{}
	for k, v := range l.byLine {
		byLine[k] = v
	}
	for k, v := range l.byID {
		byID[k] = v
	}
	return byLine, byID
}

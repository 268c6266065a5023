package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// simulateSummary is `nodewarden simulate`'s final line: total messages, errors, and
// container sample messages.
var simulateSummary = regexp.MustCompile(`(?m)^done elapsed=\S+ msgs=(\d+) bytes=\d+ errors=(\d+) .* container=(\d+) `)

// `nodewarden simulate` publishes N nodes × M containers for a while: every container sample
// the bus stored is a point in InfluxDB (exact count), and Prometheus, scraping the sink,
// holds one series per container whose value is the last one published.
func TestScenarioSampleFlow(t *testing.T) {
	var (
		nodes      = load(20, 200)
		containers = load(10, 30)
		duration   = load(20*time.Second, 60*time.Second)
		interval   = load(5*time.Second, 10*time.Second)
	)
	e := Start(t, Options{
		Influx: true, Prometheus: true, Sink: true,
		// 200 × 30 containers are ~100,000 series: scrape them every few seconds, not every one.
		ScrapeInterval: load(time.Second, 5*time.Second),
		Args:           map[string][]string{"sink": {"--sample-interval=" + interval.String(), "--stale-after=10m"}},
	})

	code, out, errOut := runBinary(t, nil, "nodewarden", "simulate", "--nats-url", e.NATSURL,
		"--nodes", strconv.Itoa(nodes), "--containers", strconv.Itoa(containers),
		"--interval", interval.String(), "--duration", duration.String(),
		"--log-rate", "0", "--seed", "1", "--log-level", "warn")
	m := simulateSummary.FindStringSubmatch(out)
	if code != 0 || m == nil || m[2] != "0" {
		e.Fatalf("simulate: exit %d, errors or no summary; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	published, _ := strconv.Atoi(m[3])
	t.Logf("simulate: %s", strings.TrimSpace(m[0]))

	msgs, points, last := e.storedContainerSamples(published)
	if msgs != published {
		e.Fatalf("SAMPLES holds %d container sample messages, simulate reported %d", msgs, published)
	}
	if len(last) != nodes {
		e.Fatalf("container samples of %d nodes, want %d", len(last), nodes)
	}

	const countQ = `SELECT count("cpu_usage_seconds") FROM "container" WHERE "node" =~ /^sim-node-/`
	var inInflux int
	e.WaitFor(load(60*time.Second, 180*time.Second), fmt.Sprintf("%d container points in InfluxDB", points), func() bool {
		inInflux = influxCount(e.Influx.Query(t, countQ))
		return inInflux >= points
	})
	if inInflux != points {
		e.Fatalf("InfluxDB holds %d container points, the bus %d samples", inInflux, points)
	}
	t.Logf("%d container sample messages, %d container points in InfluxDB", msgs, inInflux)

	ctx, cancel := context.WithTimeout(context.Background(), load(60*time.Second, 180*time.Second))
	defer cancel()
	want := float64(nodes * containers)
	countP := `count(container_cpu_usage_seconds_total{node=~"sim-node-.*"})`
	if _, err := e.Prom.WaitQuery(ctx, countP, func(s []testenv.PromSample) bool { return len(s) == 1 && s[0].Value == want }); err != nil {
		e.Fatalf("Prometheus %s: %v (want %v)", countP, err, want)
	}
	// Every node's last published value, through Prometheus: the first container of each.
	for node, cs := range last {
		c := cs.GetContainers()[0]
		q := fmt.Sprintf(`container_cpu_usage_seconds_total{node=%q,namespace=%q,pod=%q,container=%q}`,
			node, c.GetNamespace(), c.GetPodName(), c.GetName())
		wantV := c.GetCpu().GetUsageSeconds()
		if _, err := e.Prom.WaitQuery(ctx, q, func(s []testenv.PromSample) bool { return len(s) == 1 && s[0].Value == wantV }); err != nil {
			e.Fatalf("Prometheus %s: %v (want the last published %v)", q, err, wantV)
		}
	}
}

// storedContainerSamples reads the want container sample messages of the simulated nodes from
// SAMPLES and returns how many there are, their container count, and each node's last one.
func (e *Env) storedContainerSamples(want int) (msgs, points int, last map[string]*nwv1.ContainerSamples) {
	e.T.Helper()
	js := e.Bus()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, "SAMPLES", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"nw.sample.container.>"}})
	if err != nil {
		e.Fatalf("read SAMPLES: %v", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		e.Fatalf("read SAMPLES: %v", err)
	}
	total := int(info.NumPending)
	last = map[string]*nwv1.ContainerSamples{}
	it, err := c.Messages()
	if err != nil {
		e.Fatalf("read SAMPLES: %v", err)
	}
	defer it.Stop()
	for range total {
		m, err := it.Next()
		if err != nil {
			e.Fatalf("read SAMPLES after %d of %d messages: %v", msgs, total, err)
		}
		var cs nwv1.ContainerSamples
		if err := proto.Unmarshal(m.Data(), &cs); err != nil {
			e.Fatalf("decode %s: %v", m.Subject(), err)
		}
		if !strings.HasPrefix(cs.GetNode(), "sim-node-") {
			continue
		}
		msgs++
		points += len(cs.GetContainers())
		last[cs.GetNode()] = &cs
	}
	if msgs != want {
		e.T.Logf("harness: %d stored container sample messages, %d expected", msgs, want)
	}
	return msgs, points, last
}

// influxCount is the single count of a `SELECT count(...)` result, 0 when there is none.
func influxCount(series []testenv.InfluxSeries) int {
	if len(series) != 1 || len(series[0].Values) != 1 || len(series[0].Values[0]) < 2 {
		return 0
	}
	n, err := strconv.Atoi(fmt.Sprint(series[0].Values[0][1]))
	if err != nil {
		return 0
	}
	return n
}

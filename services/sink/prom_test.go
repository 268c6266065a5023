package sink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/sink"
	"github.com/nodewarden/nodewarden/services/sink/promexp"
)

var cpuSeries = regexp.MustCompile(`(?m)^container_cpu_usage_seconds_total\{([^}]*)\} (\S+)$`)

// nodesExposed returns node → the container_cpu_usage_seconds_total value of its pod app-0.
func nodesExposed(body string) map[string]string {
	out := map[string]string{}
	for _, m := range cpuSeries.FindAllStringSubmatch(body, -1) {
		labels := m[1]
		if !strings.Contains(labels, `pod="app-0"`) {
			continue
		}
		i := strings.Index(labels, `node="`)
		if i < 0 {
			continue
		}
		rest := labels[i+len(`node="`):]
		out[rest[:strings.IndexByte(rest, '"')]] = m[2]
	}
	return out
}

// TestPrometheusOutput: two sink replicas share the nodes — each node's series on exactly one
// replica, with cAdvisor's names and the latest values; the exposition passes promtool; the
// series of nodes that stop reporting vanish after --stale-after.
func TestPrometheusOutput(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	var bases []string
	for i := range 2 {
		bases = append(bases, testenv.RunService(t, srv.ClientURL(), func(ctx context.Context, c daemon.Common) error {
			cfg := defaults()
			cfg.Common = c
			cfg.ReplicaID = fmt.Sprintf("sink-%d", i)
			cfg.LeaseTTL = 2 * time.Second
			cfg.Prom.StaleAfter, cfg.Prom.SampleInterval = 3*time.Second, time.Second
			return sink.Run(ctx, cfg)
		}))
	}
	held := regexp.MustCompile(`(?m)^nodewarden_sink_partitions_held (\d+)$`)
	testenv.WaitFor(t, time.Minute, "the partitions shared by both replicas", func() bool {
		total := 0
		for _, b := range bases {
			m := held.FindStringSubmatch(scrape(t, b))
			if m == nil || m[1] == "0" {
				return false
			}
			var n int
			fmt.Sscan(m[1], &n)
			total += n
		}
		return total == topology.DefaultSettings().DetectorPartitions
	})
	const nodes = 20
	l := &load{js: js, nodes: nodes, containers: 3, start: time.Now(), base: time.Now()}
	ctx := context.Background()
	l.publish(ctx, t, 0, 3) // rounds 0..2: app-0's cpu usage ends at 2 × 1.5 s
	exposed := func() (map[string]string, map[string]int) {
		all, count := map[string]string{}, map[string]int{}
		for _, b := range bases {
			for n, v := range nodesExposed(scrape(t, b)) {
				all[n] = v
				count[n]++
			}
		}
		return all, count
	}
	testenv.WaitFor(t, time.Minute, "every node exposed once, with the last round's value", func() bool {
		all, count := exposed()
		if len(all) != nodes {
			return false
		}
		for n, v := range all {
			if count[n] != 1 || v != "3" {
				return false
			}
		}
		return true
	})
	_, count := exposed()
	for n, c := range count {
		if c != 1 {
			t.Errorf("node %s exposed by %d replicas", n, c)
		}
	}
	per := []int{len(nodesExposed(scrape(t, bases[0]))), len(nodesExposed(scrape(t, bases[1])))}
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("nodes per replica %v: one replica exposes nothing", per)
	}
	body := scrape(t, bases[0])
	for _, name := range []string{"container_memory_working_set_bytes", "container_spec_memory_limit_bytes",
		"container_cpu_cfs_periods_total", "container_cpu_cfs_throttled_periods_total", "container_spec_cpu_quota"} {
		if !strings.Contains(body, "\n"+name+"{") {
			t.Errorf("/metrics has no %s", name)
		}
	}
	promtoolCheck(t, body)

	// Half the nodes stop reporting: their series go after --stale-after, the others stay.
	half := &load{js: js, nodes: nodes / 2, containers: 3, start: l.start, base: l.base}
	r := 3
	testenv.WaitFor(t, time.Minute, "the silent nodes' series gone", func() bool {
		half.publish(ctx, t, r, r+1)
		r++
		all, _ := exposed()
		if len(all) != nodes/2 {
			return false
		}
		for i := range nodes / 2 {
			if _, ok := all[nodeName(i)]; !ok {
				return false
			}
		}
		return true
	})
	all, _ := exposed()
	for i := range nodes / 2 {
		if _, ok := all[nodeName(i)]; !ok {
			t.Errorf("reporting node %s vanished", nodeName(i))
		}
	}
}

// promtoolCheck runs `promtool check metrics`: the exposition must parse, and lint may report
// only the findings compatibility forces (promexp.KnownLint).
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (make test installs Debian's prometheus): ", err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader([]byte(body))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		known := line == ""
		for _, re := range promexp.KnownLint {
			known = known || re.MatchString(line)
		}
		if !known {
			t.Errorf("promtool: %s", line)
		}
	}
}

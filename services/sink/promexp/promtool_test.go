package promexp

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// knownLint are the promtool lint findings that compatibility forces: node_exporter's meminfo
// names are camelCase, NPD's problem_counter is a counter without _total and both NPD names
// carry their type. Renaming them would
// break the dashboards and rules this output exists for. Anything else fails the test.
var knownLint = []*regexp.Regexp{
	regexp.MustCompile(`^node_memory_[A-Za-z]+_bytes metric names should be written in 'snake_case' not 'camelCase'$`),
	regexp.MustCompile(`^problem_counter counter metrics should have "_total" suffix$`),
	regexp.MustCompile(`^problem_counter metric name should not include type 'counter'$`),
	regexp.MustCompile(`^problem_gauge metric name should not include type 'gauge'$`),
}

// TestPromtoolCheckMetrics runs `promtool check metrics` on an exposition with every kind of
// series: it must parse, and lint may report only the findings in knownLint.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian: apt-get install prometheus): ", err)
	}
	const node = "ip-10-0-0-1.ec2.internal"
	s := NewStore(Options{SampleInterval: 10 * time.Second}, func() time.Time { return t0 })
	for _, m := range []proto.Message{containerSamples(node, t0, 1), nodeSample(node, t0),
		problem(node, "p1", event, "", "OOMKilling", 0), problem(node, "p2", cond, "KernelDeadlock", "DockerHung", isT)} {
		if err := s.Observe(m, t0); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition(t, reg))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3: // lint findings only; checked below
	default:
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		known := false
		for _, re := range knownLint {
			known = known || re.MatchString(line)
		}
		if !known {
			t.Errorf("promtool: %s", line)
		}
	}
}

package promexp

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

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
		for _, re := range KnownLint {
			known = known || re.MatchString(line)
		}
		if !known {
			t.Errorf("promtool: %s", line)
		}
	}
}

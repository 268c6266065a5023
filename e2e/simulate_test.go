package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startPipeline starts `nodewarden run` on free ports and returns its NATS URL once every
// service listens (so the streams are provisioned); it is stopped with SIGINT at cleanup and
// must exit 0.
func startPipeline(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(bin(t, "nodewarden"), "run", "--nats-listen=127.0.0.1:0", "--http-port-base=0",
		"--data-dir="+t.TempDir(), "--node=e2e-node", "--log-level=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	endpoints := make(chan [2]string, 16)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := endpointLine.FindStringSubmatch(sc.Text()); m != nil {
				endpoints <- [2]string{m[1], m[2]}
			}
		}
		close(endpoints)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("nodewarden run after SIGINT: %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("nodewarden run still running 10s after SIGINT")
		}
	})
	urls := map[string]string{}
	deadline := time.After(15 * time.Second)
	for len(urls) < 6 {
		select {
		case e, ok := <-endpoints:
			if !ok {
				t.Fatalf("nodewarden run exited early; stderr:\n%s", stderr.String())
			}
			urls[e[0]] = e[1]
		case <-deadline:
			t.Fatalf("endpoints printed within 15s: %v; stderr:\n%s", urls, stderr.String())
		}
	}
	if urls["nats"] == "" {
		t.Fatalf("no NATS URL printed: %v", urls)
	}
	return urls["nats"]
}

var simulateDone = regexp.MustCompile(`(?m)^done elapsed=\S+ msgs=(\d+) bytes=(\d+) errors=(\d+) .* container=(\d+) `)

// `nodewarden simulate` loads the all-in-one pipeline with 1000 nodes of 30 containers: every
// node's container samples land in SAMPLES, and it exits 0 at --duration without errors.
func TestSimulateThousandNodesAgainstRun(t *testing.T) {
	if testing.Short() {
		t.Skip("load test; skipped with -short")
	}
	url := startPipeline(t)
	start := time.Now()
	code, stdout, stderr := runBinary(t, nil, "nodewarden", "simulate", "--nats-url", url, "--nodes", "1000",
		"--containers", "30", "--interval", "2s", "--duration", "5s", "--log-level", "warn")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("simulate: exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if took > 15*time.Second {
		t.Errorf("simulate --duration 5s took %s", took)
	}
	m := simulateDone.FindStringSubmatch(stdout)
	if m == nil || m[3] != "0" {
		t.Fatalf("simulate reported errors or no final summary; stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if strings.Count(stdout, "elapsed=") < 3 {
		t.Errorf("want a summary line every 2s and a final one:\n%s", stdout)
	}
	reported, _ := strconv.Atoi(m[4])

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "SAMPLES")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("nw.sample.container.>"))
	if err != nil {
		t.Fatal(err)
	}
	// The pipeline's own collector publishes too: count the fake nodes only.
	var stored uint64
	nodes := 0
	for subj, n := range info.State.Subjects {
		if strings.HasPrefix(subj, "nw.sample.container.sim-node-") {
			stored += n
			nodes++
		}
	}
	if stored < 1000 || nodes != 1000 {
		t.Fatalf("SAMPLES holds %d container samples of %d fake nodes, want ≥ 1000 of 1000", stored, nodes)
	}
	if stored != uint64(reported) {
		t.Errorf("SAMPLES holds %d container samples, simulate reported %d", stored, reported)
	}
	t.Logf("simulate: %s", strings.TrimSpace(m[0]))
}

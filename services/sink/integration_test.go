package sink_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/sink"
)

func influxConfig(c daemon.Common, in *testenv.Influx) sink.Config {
	cfg := defaults()
	cfg.Common = c
	cfg.Influx.URL, cfg.Influx.Bucket = in.URL, in.Bucket
	cfg.Influx.Flush = 200 * time.Millisecond
	return cfg
}

// TestInfluxExactlyNThroughOutage: samples published while InfluxDB is down for 30 s all arrive
// once it is back — exactly N points, none lost, none doubled.
func TestInfluxExactlyNThroughOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops InfluxDB for 30 s")
	}
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	in := testenv.StartInflux(t)
	testenv.RunService(t, srv.ClientURL(), func(ctx context.Context, c daemon.Common) error {
		return sink.Run(ctx, influxConfig(c, in))
	})
	l := &load{js: js, nodes: 20, containers: 10, start: time.Now(), base: time.Now().Add(-time.Hour)}
	ctx := context.Background()
	l.publish(ctx, t, 0, 10)
	testenv.WaitFor(t, time.Minute, "the first rounds in InfluxDB", func() bool { return influxCount(t, in) == l.published.Load() })

	in.Stop()
	l.publish(ctx, t, 10, 30) // while InfluxDB is down
	stopped := time.Now()
	// InfluxDB stays down for 30 s while the sink retries; the deadline bounds the outage.
	<-time.After(30*time.Second - time.Since(stopped))
	in.Start(t)
	l.publish(ctx, t, 30, 40)
	want := l.published.Load()
	testenv.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d points after the outage", want), func() bool { return influxCount(t, in) >= want })
	if got := influxCount(t, in); got != want {
		t.Fatalf("InfluxDB holds %d container points, published %d", got, want)
	}
}

// TestInfluxExactlyNAfterKill: the sink process killed with SIGKILL in the middle of a load and
// started again leaves exactly N points: unacked batches are redelivered and overwrite
// themselves.
func TestInfluxExactlyNAfterKill(t *testing.T) {
	bin := buildSink(t)
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	in := testenv.StartInflux(t)
	args := []string{"--nats-url", srv.ClientURL(), "--influx-url", in.URL, "--influx-bucket", in.Bucket,
		"--influx-batch", "500", "--influx-flush", "100ms", "--http-listen", "127.0.0.1:0", "--log-format", "text"}
	l := &load{js: js, nodes: 50, containers: 20, start: time.Now(), base: time.Now().Add(-time.Hour)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { l.publish(ctx, t, 0, 40) }) // 40,000 points
	p := startProcess(t, bin, args)
	testenv.WaitFor(t, time.Minute, "some points written", func() bool { return influxCount(t, in) > 0 })
	if err := p.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	at := influxCount(t, in)
	wg.Wait()
	want := l.published.Load()
	if at >= want {
		t.Logf("all %d points were written before the kill: the kill did not land mid-load", at)
	}
	startProcess(t, bin, args)
	testenv.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d points after the restart", want), func() bool { return influxCount(t, in) >= want })
	if got := influxCount(t, in); got != want {
		t.Fatalf("InfluxDB holds %d container points after kill -9 at %d, published %d", got, at, want)
	}
	t.Logf("killed with %d of %d points written", at, want)
}

// buildSink builds cmd/sink once per test binary.
var (
	sinkOnce sync.Once
	sinkBin  string
	sinkErr  error
)

func buildSink(t *testing.T) string {
	t.Helper()
	sinkOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nw-sink-bin")
		if err != nil {
			sinkErr = err
			return
		}
		sinkBin = filepath.Join(dir, "sink")
		out, err := exec.Command("go", "build", "-o", sinkBin, "./cmd/sink").CombinedOutput()
		if err != nil {
			sinkErr = fmt.Errorf("go build ./cmd/sink: %v\n%s", err, out)
		}
	})
	if sinkErr != nil {
		t.Fatal(sinkErr)
	}
	return sinkBin
}

// startProcess runs the sink binary until the test ends, its log in the test log on failure.
func startProcess(t *testing.T, bin string, args []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	log := &strings.Builder{}
	var mu sync.Mutex
	w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return log.Write(b) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("sink log:\n%s", log.String())
			mu.Unlock()
		}
	})
	return cmd
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// scrape returns a /metrics body.
func scrape(t testing.TB, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

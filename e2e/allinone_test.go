package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

var endpointLine = regexp.MustCompile(`^(\w+)\s+(http://\S+|nats://\S+)`)

// `nodewarden run` prints every endpoint, every service's /readyz answers 200 within 10 s, and
// SIGINT (Ctrl-C) stops it with exit status 0 within 5 s.
func TestRunStartsPipelineAndStopsOnInterrupt(t *testing.T) {
	cmd := exec.Command(bin(t, "nodewarden"), "run", "--nats-listen=127.0.0.1:0", "--http-port-base=0",
		"--data-dir="+t.TempDir(), "--node=ip-10-0-0-1.ec2.internal", "--log-level=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	endpoints := make(chan [2]string, 16)
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

	deadline := time.After(10 * time.Second)
	urls := map[string]string{}
	for len(urls) < 6 {
		select {
		case e, ok := <-endpoints:
			if !ok {
				t.Fatalf("nodewarden run exited early; stderr:\n%s", stderr.String())
			}
			urls[e[0]] = e[1]
		case <-deadline:
			t.Fatalf("endpoints printed within 10s: %v; stderr:\n%s", urls, stderr.String())
		}
	}
	for _, svc := range []string{"nats", "collector", "detector", "rebooter", "sink", "alerter"} {
		if urls[svc] == "" {
			t.Fatalf("no endpoint printed for %s: %v", svc, urls)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for svc, u := range urls {
		if svc == "nats" {
			continue
		}
		waitStatus(t, ctx, u+"/readyz", http.StatusOK)
		if body := get(t, u+"/metrics"); !strings.Contains(body, `nodewarden_build_info{service="`+svc+`"`) {
			t.Errorf("%s /metrics lacks its build info", svc)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after SIGINT; stderr:\n%s", stderr.String())
	}
}

func waitStatus(t *testing.T, ctx context.Context, url string, want int) {
	t.Helper()
	testenv.WaitFor(t, time.Until(deadlineOf(ctx)), url+" to answer "+http.StatusText(want), func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == want
	})
}

func deadlineOf(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(10 * time.Second)
	}
	return d
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return string(b)
}

package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultKubeletURL is kubelet's healthz endpoint (--healthz-port 10248, loopback only).
const DefaultKubeletURL = "http://127.0.0.1:10248/healthz"

// maxBody bounds what is read of an answer: the checks compare a two-letter body.
const maxBody = 512

// httpChecker is a GET whose answer must be 200 and a given body.
type httpChecker struct {
	component string
	url       string
	check     string
	want      string
	timeout   time.Duration
	client    *http.Client
}

// Kubelet checks kubelet's /healthz: healthy when it answers 200 "ok" within timeout. An empty url
// means DefaultKubeletURL.
func Kubelet(url string, timeout time.Duration) Checker {
	if url == "" {
		url = DefaultKubeletURL
	}
	// No proxy from the environment: the kubelet is on this node.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	return &httpChecker{
		component: "kubelet",
		url:       url,
		check:     "GET " + url,
		want:      "ok",
		timeout:   timeout,
		client:    &http.Client{Transport: tr, CheckRedirect: noRedirect},
	}
}

// Docker checks dockerd's /_ping over its unix socket (a path or unix:// URL): healthy when it
// answers 200 "OK" within timeout.
func Docker(socket string, timeout time.Duration) Checker {
	path := strings.TrimPrefix(socket, "unix://")
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &httpChecker{
		component: "docker",
		url:       "http://docker/_ping",
		check:     "GET /_ping on unix://" + path,
		want:      "OK",
		timeout:   timeout,
		client:    &http.Client{Transport: tr, CheckRedirect: noRedirect},
	}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (h *httpChecker) Component() string { return h.component }

func (h *httpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := Result{Component: h.component, Check: h.check}
	err := h.get(ctx)
	res.Latency = time.Since(start)
	if err != nil {
		res.Message = err.Error()
		return res
	}
	res.Healthy = true
	return res
}

func (h *httpChecker) get(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return describe(ctx, err, h.timeout)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("read answer: %w", describe(ctx, err, h.timeout))
	}
	got := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, snippet(got))
	}
	if got != h.want {
		return fmt.Errorf("answer %q, want %q", snippet(got), h.want)
	}
	return nil
}

// describe says "timed out after 2s" rather than Go's "context deadline exceeded" where that is
// what happened.
func describe(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return err
}

func snippet(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

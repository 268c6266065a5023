// Package cri is a small client of the Container Runtime Interface over the runtime's unix
// socket (containerd, CRI-O): the runtime's version and readiness for health checks, and the
// names behind container ids (container, pod, namespace, pod UID, image) for container samples.
// The connection is lazy, so a missing socket is an error on each call, never at start, and every
// call is bounded by the client's timeout. Container metadata is cached and refreshed at most once
// per TTL, so a collector asking every interval costs the runtime one list per TTL. The tests run
// against a real containerd (Debian's package) started on a temporary socket, and skip when it is
// not installed.
package cri

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxMsgSize is kubelet's limit for CRI responses: a list of a few hundred containers with
// labels and annotations can exceed gRPC's 4 MiB default.
const maxMsgSize = 16 << 20

// Defaults for the metadata cache.
const (
	DefaultCacheTTL   = 30 * time.Second
	DefaultMinRefresh = 2 * time.Second
)

// Client is a CRI client. It is safe for concurrent use.
type Client struct {
	socket     string
	timeout    time.Duration
	ttl        time.Duration
	minRefresh time.Duration
	now        func() time.Time

	conn    *grpc.ClientConn
	runtime runtimeapi.RuntimeServiceClient
	images  runtimeapi.ImageServiceClient

	// mu serialises refreshes, so concurrent callers share one round of list calls.
	mu          sync.Mutex
	meta        map[string]Meta
	fetched     time.Time // last successful refresh
	attempted   time.Time // last refresh attempt, successful or not
	lastErr     error
	invalidated bool
}

// Option configures a Client.
type Option func(*Client)

// WithCacheTTL sets how long container metadata is reused before it is listed again
// (DefaultCacheTTL when zero or negative).
func WithCacheTTL(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithMinRefresh sets the shortest time between two refreshes, after a failed one or after
// Invalidate (DefaultMinRefresh when zero or negative).
func WithMinRefresh(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.minRefresh = d
		}
	}
}

// withClock replaces the clock in tests.
func withClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// Dial creates a client for socket, a path or a unix:// URL. It does not connect: the first call
// does, so a runtime that is not up yet is not an error here. Every call is bounded by timeout.
func Dial(ctx context.Context, socket string, timeout time.Duration, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial cri %s: %w", socket, err)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("dial cri %s: timeout must be positive, got %v", socket, timeout)
	}
	target, err := Target(socket)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize)),
		grpc.WithUserAgent("nodewarden-collector"),
		// kubelet's reconnect backoff: gRPC's default grows to 2 minutes, during which calls fail
		// fast, so a restarted runtime would stay "down" long after it is back.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: timeout,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial cri %s: %w", socket, err)
	}
	c := &Client{
		socket:     socket,
		timeout:    timeout,
		ttl:        DefaultCacheTTL,
		minRefresh: DefaultMinRefresh,
		now:        time.Now,
		conn:       conn,
		runtime:    runtimeapi.NewRuntimeServiceClient(conn),
		images:     runtimeapi.NewImageServiceClient(conn),
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Target turns a socket path or unix:// URL into a gRPC target. Other schemes are refused: CRI
// runtimes listen on unix sockets, and a TCP endpoint would be an unauthenticated one.
func Target(socket string) (string, error) {
	path := socket
	switch {
	case socket == "":
		return "", errors.New("cri socket: empty")
	case strings.HasPrefix(socket, "unix://"):
		path = strings.TrimPrefix(socket, "unix://")
	case strings.Contains(socket, "://"):
		return "", fmt.Errorf("cri socket %q: only unix sockets are supported", socket)
	}
	if path == "" {
		return "", fmt.Errorf("cri socket %q: empty path", socket)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("cri socket %q: %w", socket, err)
	}
	return "unix://" + abs, nil
}

// Socket is the socket the client was created for.
func (c *Client) Socket() string { return c.socket }

// Timeout is the bound of each call.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// VersionInfo is the runtime's answer to Version.
type VersionInfo struct {
	RuntimeName       string // "containerd", "cri-o"
	RuntimeVersion    string
	RuntimeAPIVersion string // "v1"
}

// Version asks the runtime for its name and version.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.runtime.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
	if err != nil {
		return VersionInfo{}, fmt.Errorf("cri version %s: %w", c.socket, err)
	}
	return VersionInfo{
		RuntimeName:       resp.GetRuntimeName(),
		RuntimeVersion:    resp.GetRuntimeVersion(),
		RuntimeAPIVersion: resp.GetRuntimeApiVersion(),
	}, nil
}

// Condition is one runtime condition of Status.
type Condition struct {
	Type    string // runtimeapi.RuntimeReady, runtimeapi.NetworkReady, or a runtime's own
	Status  bool
	Reason  string
	Message string
}

// Status is the runtime's readiness.
type Status struct {
	RuntimeReady bool
	NetworkReady bool
	Conditions   []Condition
}

// NotReady describes the conditions that are false or missing ("" when all are true), e.g.
// "NetworkReady: NetworkPluginNotReady: cni plugin not initialized".
func (s Status) NotReady() string {
	var parts []string
	seen := map[string]bool{}
	for _, c := range s.Conditions {
		seen[c.Type] = true
		if c.Status {
			continue
		}
		p := c.Type
		if c.Reason != "" {
			p += ": " + c.Reason
		}
		if c.Message != "" {
			p += ": " + c.Message
		}
		parts = append(parts, p)
	}
	for _, required := range []string{runtimeapi.RuntimeReady, runtimeapi.NetworkReady} {
		if !seen[required] {
			parts = append(parts, required+": not reported")
		}
	}
	return strings.Join(parts, "; ")
}

// Status asks the runtime whether it and its network are ready. A runtime that omits a condition
// is taken as not ready for it, as kubelet does.
func (c *Client) Status(ctx context.Context) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.runtime.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return Status{}, fmt.Errorf("cri status %s: %w", c.socket, err)
	}
	var st Status
	for _, rc := range resp.GetStatus().GetConditions() {
		cond := Condition{Type: rc.GetType(), Status: rc.GetStatus(), Reason: rc.GetReason(), Message: rc.GetMessage()}
		st.Conditions = append(st.Conditions, cond)
		switch cond.Type {
		case runtimeapi.RuntimeReady:
			st.RuntimeReady = cond.Status
		case runtimeapi.NetworkReady:
			st.NetworkReady = cond.Status
		}
	}
	return st, nil
}

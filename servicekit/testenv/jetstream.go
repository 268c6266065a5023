package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/embedded"
)

// JetStream is an embedded single JetStream server with file storage in a temp dir.
type JetStream struct {
	*embedded.Server
	t testing.TB
}

// StartJetStream starts an embedded JetStream server for the test and stops it at cleanup.
func StartJetStream(t testing.TB) *JetStream {
	t.Helper()
	s, err := embedded.Start(embedded.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded JetStream: %v", err)
	}
	js := &JetStream{Server: s, t: t}
	t.Cleanup(func() { js.Server.Stop() })
	return js
}

// Restart stops the server and starts it again on the same port with the same store, as a
// restart of a real server would.
func (j *JetStream) Restart() {
	j.t.Helper()
	s, err := j.Server.Restart()
	if err != nil {
		j.t.Fatalf("restart embedded JetStream: %v", err)
	}
	j.Server = s
}

// Connect returns a client connection closed at cleanup, and its JetStream context.
func (j *JetStream) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return connect(t, j.URL())
}

func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// Cluster is an in-process 3-node JetStream cluster for fault tests.
type Cluster struct {
	Servers []*embedded.Server
}

// StartCluster starts n clustered servers (3 for fault tests) and stops them at cleanup.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	servers, err := embedded.StartCluster(t.TempDir(), n)
	if err != nil {
		t.Fatalf("start JetStream cluster: %v", err)
	}
	c := &Cluster{Servers: servers}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			s.Stop()
		}
	})
	return c
}

// URL lists every member, so a client fails over when one is stopped.
func (c *Cluster) URL() string {
	u := ""
	for i, s := range c.Servers {
		if i > 0 {
			u += ","
		}
		u += s.URL()
	}
	return u
}

// Connect returns a client connected to the cluster, closed at cleanup.
func (c *Cluster) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return connect(t, c.URL())
}

// WaitFor polls cond every 20ms until it returns true or the deadline passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

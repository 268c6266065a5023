package testenv_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// A message stored before a restart of the single server is still there after it.
func TestJetStreamRestartKeepsMessages(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	if _, err := js.Publish(ctx, "nw.problem.n1", []byte("x"), jetstream.WithMsgID("m1")); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	testenv.WaitFor(t, 15*time.Second, "EVENTS to hold the message after restart", func() bool {
		st, err := js.Stream(ctx, topology.StreamEvents)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
}

// Streams replicated 3 keep accepting and serving messages when one server of the cluster stops.
func TestClusterSurvivesOneServer(t *testing.T) {
	c := testenv.StartCluster(t, 3)
	_, js := c.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := topology.DefaultSettings()
	s.Replicas = 3
	if _, err := topology.Provision(ctx, js, s, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, topology.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("replicas = %d", r)
	}
	if _, err := js.Publish(ctx, "nw.problem.n1", []byte("before"), jetstream.WithMsgID("b")); err != nil {
		t.Fatal(err)
	}
	c.Servers[0].Stop()
	var published bool
	testenv.WaitFor(t, 30*time.Second, "a publish to succeed with one server down", func() bool {
		if !published {
			// Each attempt gets its own deadline: a publish sent while the client reconnects
			// or the stream elects a new leader may never be answered.
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.Publish(pctx, "nw.problem.n1", []byte("after"), jetstream.WithMsgID("a"))
			cancel()
			published = err == nil
		}
		if !published {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 2
	})
}

package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/collector/outbox"
)

// Messages offered while the JetStream server is down are all stored, each exactly once, after
// it comes back, and Offer never waits for it. Retries while the client is disconnected pile
// copies of a message into nats.go's reconnect buffer; the Nats-Msg-Id makes JetStream store
// one of them.
func TestJetStreamOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded JetStream server")
	}
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	nc, js := srv.Connect(t)

	// One bound for the whole test: whatever goes wrong, it fails within this, never hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	reg := prometheus.NewRegistry()
	o := outbox.New(publish.New(js, reg), outbox.Options{
		Size: 1000, Timeout: 500 * time.Millisecond, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	}, quiet(), reg)
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		o.Run(runCtx)
	}()
	defer func() {
		stopRun()
		select {
		case <-runDone:
		case <-time.After(deadline):
			t.Errorf("Run did not return within %s of its context ending", deadline)
		}
	}()

	want := map[string]string{} // msg id -> stream
	send := func(subj, id, stream string) {
		sctx, c := context.WithTimeout(ctx, deadline)
		defer c()
		if err := o.Send(sctx, subj, id, []byte(id), outbox.Sample); err != nil {
			t.Fatalf("Send %s before the outage: %v", id, err)
		}
		want[id] = stream
	}
	send("nw.sample.node.n1", "before", topology.StreamSamples)

	srv.Server.Stop() // Restart below starts it again on the same port and store
	testenv.WaitFor(t, deadline, "the client to notice the server is gone", func() bool { return !nc.IsConnected() })

	kinds := []struct {
		class  outbox.Class
		subj   string
		stream string
	}{
		{outbox.Sample, "nw.sample.node.n1", topology.StreamSamples},
		{outbox.Log, "nw.log.kernel-monitor.n1", topology.StreamLogs},
		{outbox.Reboot, "nw.reboot.required.n1", topology.StreamReboot},
	}
	offered := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		for i := range 60 {
			k := kinds[i%len(kinds)]
			id := fmt.Sprintf("%s-%d", k.class, i)
			t0 := time.Now()
			o.Offer(k.subj, id, []byte(id), k.class)
			worst = max(worst, time.Since(t0))
		}
		offered <- worst
	}()
	select {
	case worst := <-offered:
		if worst > time.Second {
			t.Errorf("slowest Offer while NATS was down took %s", worst)
		}
	case <-time.After(deadline):
		t.Fatal("Offer blocked while NATS was down")
	}
	for i := range 60 {
		k := kinds[i%len(kinds)]
		want[fmt.Sprintf("%s-%d", k.class, i)] = k.stream
	}
	// The outbox keeps trying while the server is down; each attempt ends at its timeout.
	testenv.WaitFor(t, deadline, "failed attempts during the outage", func() bool {
		return value(t, reg, "nodewarden_collector_outbox_retries_total", "") >= 2
	})
	if n := o.Len(); n != 60 {
		t.Fatalf("Len during the outage = %d, want 60", n)
	}

	srv.Restart()
	testenv.WaitFor(t, 60*time.Second, "the outbox to drain after the restart", func() bool { return o.Len() == 0 })

	got := map[string]int{}
	for _, stream := range []string{topology.StreamSamples, topology.StreamLogs, topology.StreamReboot} {
		for id, n := range msgIDs(ctx, t, js, stream) {
			if want[id] != stream {
				t.Errorf("stream %s holds unexpected message %q", stream, id)
			}
			got[id] += n
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("message %s stored %d times, want exactly once", id, got[id])
		}
	}
	if v := value(t, reg, "nodewarden_collector_outbox_dropped_total", "sample"); v != 0 {
		t.Errorf("%v samples dropped with room to spare", v)
	}
}

// msgIDs reads every message of stream and counts them by Nats-Msg-Id.
func msgIDs(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	ids := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("stream %s seq %d: %v", stream, seq, err)
		}
		ids[m.Header.Get(nats.MsgIdHdr)]++
	}
	return ids
}

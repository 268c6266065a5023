package detector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/detector"
)

// problems reads every Problem stored in EVENTS.
func problems(t *testing.T, js jetstream.JetStream) []*nwv1.Problem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, topology.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*nwv1.Problem
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{sp.All("problem")}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, err := c.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var p nwv1.Problem
			if err := proto.Unmarshal(m.Data(), &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, &p)
		}
		if n == 0 {
			return out
		}
	}
}

// count is how many stored problems each node has with the given reason.
func count(ps []*nwv1.Problem, reason string) map[string]int {
	m := map[string]int{}
	for _, p := range ps {
		if p.Reason == reason {
			m[p.Node]++
		}
	}
	return m
}

func holders(t *testing.T, js jetstream.JetStream) map[string]int {
	kv, err := js.KeyValue(context.Background(), topology.BucketDetectorPartitions)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	lister, err := kv.ListKeysFiltered(context.Background(), "p.*")
	if err != nil {
		return out
	}
	for k := range lister.Keys() {
		e, err := kv.Get(context.Background(), k)
		if err != nil {
			continue
		}
		var r struct{ Holder string }
		if json.Unmarshal(e.Value(), &r) == nil {
			out[r.Holder]++
		}
	}
	return out
}

// Two replicas share 50 nodes: every node's problems are raised once, and again once after
// one replica stops and the other takes its partitions over.
func TestTwoReplicasFiftyNodes(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	r1 := runDetector(t, srv.URL(), func(c *detector.Config) { c.ReplicaID = "r1" })
	runDetector(t, srv.URL(), func(c *detector.Config) { c.ReplicaID = "r2" })
	testenv.WaitFor(t, 20*time.Second, "both replicas holding partitions", func() bool {
		h := holders(t, js)
		return h["r1"] > 0 && h["r2"] > 0 && h["r1"]+h["r2"] == topology.DefaultSettings().DetectorPartitions
	})

	const nodes = 50
	loggers := make([]*logger, nodes)
	for i := range loggers {
		loggers[i] = &logger{js: js, node: fmt.Sprintf("node-%02d.cluster.local", i), source: "kernel-monitor"}
		loggers[i].send(t, "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008",
			"XFS (sdb1): Log I/O Error Detected. Shutting down filesystem")
	}
	want := func(m map[string]int, n int) bool {
		if len(m) != nodes {
			return false
		}
		for _, c := range m {
			if c != n {
				return false
			}
		}
		return true
	}
	testenv.WaitFor(t, 30*time.Second, "an oops and an XFS shutdown for each of 50 nodes", func() bool {
		ps := problems(t, js)
		return want(count(ps, "KernelOops"), 1) && want(count(ps, "XfsHasShutdown"), 1)
	})

	r1.stop()
	testenv.WaitFor(t, 20*time.Second, "r2 holding every partition", func() bool { return holders(t, js)["r2"] == topology.DefaultSettings().DetectorPartitions })
	for _, l := range loggers {
		l.send(t, "BUG: unable to handle kernel NULL pointer dereference at 0000000000000010",
			"[Hardware Error]: event severity: fatal")
	}
	testenv.WaitFor(t, 30*time.Second, "a second oops and a fatal hardware error for each node", func() bool {
		ps := problems(t, js)
		return want(count(ps, "KernelOops"), 2) && want(count(ps, "CperHardwareErrorFatal"), 1)
	})
	ps := problems(t, js)
	for reason, n := range map[string]int{"KernelOops": 2, "XfsHasShutdown": 1, "CperHardwareErrorFatal": 1} {
		for node, c := range count(ps, reason) {
			if c != n {
				t.Errorf("%s: %d %s problems, want %d", node, c, reason, n)
			}
		}
	}
}

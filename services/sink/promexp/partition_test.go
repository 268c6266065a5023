package promexp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

func TestPartitionOfRejects(t *testing.T) {
	for _, tc := range []struct {
		node       string
		partitions int
	}{{"", 8}, {"a b", 8}, {"n1", 0}, {"n1", -3}} {
		if p := PartitionOf(tc.node, tc.partitions); p != -1 {
			t.Errorf("PartitionOf(%q, %d) = %d, want -1", tc.node, tc.partitions, p)
		}
	}
}

// TestPartitionOfMatchesServer provisions the real DETECT stream, whose subject mapping puts the
// node's partition into each subject, and checks PartitionOf agrees for 200 node names.
func TestPartitionOfMatchesServer(t *testing.T) {
	const partitions = 16
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	settings := topology.DefaultSettings()
	settings.DetectorPartitions = partitions
	if _, err := topology.Provision(ctx, js, settings, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for i := range 200 {
		switch i % 4 {
		case 0:
			nodes = append(nodes, fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", i/7, i))
		case 1:
			nodes = append(nodes, fmt.Sprintf("node-%d", i))
		case 2:
			nodes = append(nodes, fmt.Sprintf("gke-prod-pool-%08x", i*2654435761))
		default:
			nodes = append(nodes, fmt.Sprintf("Worker_%d.Rack-%d", i, i%5))
		}
	}
	sp := subject.Space{}
	for _, n := range nodes {
		subj, err := sp.NodeSample(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subj, []byte("x")); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	st, err := js.Stream(ctx, topology.StreamDetect)
	if err != nil {
		t.Fatal(err)
	}
	var info *jetstream.StreamInfo
	testenv.WaitFor(t, 30*time.Second, "200 samples sourced into DETECT", func() bool {
		info, err = st.Info(ctx, jetstream.WithSubjectFilter(">"))
		return err == nil && info.State.Msgs == uint64(len(nodes))
	})
	seen := map[string]bool{}
	for subj := range info.State.Subjects {
		tok := strings.Split(subj, ".") // nw.detect.<p>.sample.<node>
		if len(tok) != 5 {
			t.Fatalf("unexpected DETECT subject %s", subj)
		}
		node, err := subject.Decode(tok[4])
		if err != nil {
			t.Fatalf("decode %s: %v", subj, err)
		}
		p, err := strconv.Atoi(tok[2])
		if err != nil {
			t.Fatalf("partition of %s: %v", subj, err)
		}
		if got := PartitionOf(node, partitions); got != p {
			t.Errorf("PartitionOf(%q, %d) = %d, the server put it in %d", node, partitions, got, p)
		}
		seen[node] = true
	}
	if len(seen) != len(nodes) {
		t.Errorf("DETECT holds %d nodes, want %d", len(seen), len(nodes))
	}
}

package topology_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// DETECT carries logs, health reports and node samples (not container samples) with their node's
// partition, the same partition for every kind of message of one node.
func TestDetectPartitionsByNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	s := topology.DefaultSettings()
	s.DetectorPartitions = 8
	if _, err := topology.Provision(ctx, js, s, quiet); err != nil {
		t.Fatal(err)
	}
	if p, err := topology.Partitions(ctx, js); err != nil || p != 8 {
		t.Fatalf("Partitions = %d, %v; want 8", p, err)
	}
	nodes := []string{"n1", "ip-10-0-0-1_ec2_internal", "n3", "n4", "n5", "n6"}
	for _, n := range nodes {
		for _, subj := range []string{"nw.log.kernel-monitor." + n, "nw.health." + n, "nw.sample.node." + n, "nw.sample.container." + n} {
			if _, err := js.Publish(ctx, subj, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := js.Stream(ctx, topology.StreamDetect)
	if err != nil {
		t.Fatal(err)
	}
	var info *jetstream.StreamInfo
	testenv.WaitFor(t, 10*time.Second, "18 sourced messages", func() bool {
		info, err = st.Info(ctx, jetstream.WithSubjectFilter(">"))
		return err == nil && info.State.Msgs == 18
	})
	partOf := map[string]string{}
	for subj := range info.State.Subjects {
		tok := strings.Split(subj, ".")
		if tok[0] != "nw" || tok[1] != "detect" || tok[3] == "container" {
			t.Fatalf("unexpected subject %s", subj)
		}
		node := tok[len(tok)-1]
		if p, seen := partOf[node]; seen && p != tok[2] {
			t.Errorf("node %s in partitions %s and %s", node, p, tok[2])
		}
		partOf[node] = tok[2]
	}
	if len(partOf) != len(nodes) {
		t.Errorf("nodes seen %v, want %v", partOf, nodes)
	}
	// Each partition's filter sees exactly its nodes' messages.
	total := uint64(0)
	for p := range 8 {
		i, err := st.Info(ctx, jetstream.WithSubjectFilter(topology.DetectSubjects("nw", p)))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range i.State.Subjects {
			total += n
		}
	}
	if total != 18 {
		t.Errorf("partition filters cover %d messages, want 18", total)
	}

	// The partition count cannot change under a running system.
	s.DetectorPartitions = 64
	_, err = topology.Provision(ctx, js, s, quiet)
	if !errors.Is(err, topology.ErrIncompatible) || !strings.Contains(err.Error(), "DETECT") {
		t.Fatalf("re-provision with another partition count = %v, want an incompatibility naming DETECT", err)
	}
}

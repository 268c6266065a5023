package publish_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// A message published twice with the same Nats-Msg-Id is stored once.
func TestPublishDeduplicates(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	for i := 0; i < 2; i++ { // provisioning twice is harmless
		if _, err := topology.Provision(ctx, js, topology.DefaultSettings(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	p := publish.New(js, reg)
	subj, err := subject.Space{}.Problem("ip-10-0-0-1.ec2.internal")
	if err != nil {
		t.Fatal(err)
	}
	msg := &nwv1.Problem{Node: "ip-10-0-0-1.ec2.internal", Id: "p-1", Reason: "OOMKilling"}
	first, err := p.Publish(ctx, subj, msg.Id, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Publish(ctx, subj, msg.Id, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !second.Duplicate || first.Sequence != second.Sequence {
		t.Fatalf("acks: first %+v, second %+v", first, second)
	}
	st, err := js.Stream(ctx, topology.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1", info.State.Msgs)
	}
	raw, err := st.GetMsg(ctx, first.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	var back nwv1.Problem
	if err := proto.Unmarshal(raw.Data, &back); err != nil || !proto.Equal(&back, msg) {
		t.Fatalf("stored message = %v, %v", &back, err)
	}
	want := `# HELP nodewarden_published_duplicates_total Publishes JetStream dropped as duplicates of a message id.
# TYPE nodewarden_published_duplicates_total counter
nodewarden_published_duplicates_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nodewarden_published_duplicates_total"); err != nil {
		t.Fatal(err)
	}
}

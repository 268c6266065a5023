package sink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/sink"
	"github.com/nodewarden/nodewarden/services/sink/slack/slackfake"
)

// TestSlackThroughSink: the wired sink posts a problem at the minimum severity and every phase of
// a reboot to Slack's webhook, in order, and skips a problem below the minimum.
func TestSlackThroughSink(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	testenv.RunService(t, srv.ClientURL(), func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		cfg.Prometheus = false
		cfg.Slack.WebhookURL = fake.WebhookURL()
		return sink.Run(ctx, cfg)
	})
	const node = "ip-10-0-0-3.ec2.internal"
	sp := subject.Space{}
	pub := func(subj, id string, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(context.Background(), subj, b, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	now := timestamppb.New(time.Now())
	probSubj, _ := sp.Problem(node)
	pub(probSubj, "ev:1", &nwv1.Problem{Node: node, Time: now, Id: "ev:1", Source: "kernel-monitor", Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT,
		Reason: "TaskHung", Message: "task docker:7 blocked for more than 120 seconds.", Severity: nwv1.Severity_SEVERITY_WARNING})
	pub(probSubj, "ev:2", &nwv1.Problem{Node: node, Time: now, Id: "ev:2", Source: "kernel-monitor", Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT,
		Reason: "Chatty", Message: "below the minimum", Severity: nwv1.Severity_SEVERITY_INFO})
	stSubj, _ := sp.RebootStatus(node)
	phases := []nwv1.RebootPhase{nwv1.RebootPhase_REBOOT_PHASE_REQUESTED, nwv1.RebootPhase_REBOOT_PHASE_LOCKED,
		nwv1.RebootPhase_REBOOT_PHASE_DRAINING, nwv1.RebootPhase_REBOOT_PHASE_REBOOTING, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED}
	for i, ph := range phases {
		id := "reboot.status:" + node + ":r1:1:" + string(rune('0'+i))
		pub(stSubj, id, &nwv1.RebootStatus{Node: node, Time: now, RequestId: "r1", Phase: ph, Detail: "step", Seq: uint64(i + 1)})
	}
	testenv.WaitFor(t, 30*time.Second, "6 Slack messages", func() bool { return len(fake.Messages()) >= 6 })
	msgs := fake.Messages()
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6: %+v", len(msgs), msgs)
	}
	if !strings.Contains(msgs[0].Text, "TaskHung") || !strings.Contains(msgs[0].Text, node) {
		t.Errorf("first message %q, want the TaskHung problem on %s", msgs[0].Text, node)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text, "Chatty") {
			t.Errorf("a problem below --slack-min-severity was posted: %q", m.Text)
		}
	}
	if want := "Node " + node + " rebooted & uncordoned successfully!"; !strings.Contains(msgs[5].Text, want) {
		t.Errorf("last message %q, want kured's uncordon text %q", msgs[5].Text, want)
	}
}

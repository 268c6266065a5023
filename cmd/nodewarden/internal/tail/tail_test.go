package tail

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tail prints messages published by others, decoded, one line each, and stops after --count.
func TestTailShowsDecodedMessages(t *testing.T) {
	srv := testenv.StartJetStream(t)
	nc, _ := srv.Connect(t)
	var out syncBuffer
	subscribed := make(chan struct{})
	cfg := Config{NATS: natsconn.Options{URL: srv.URL(), MaxReconnectWait: time.Second}, Prefix: "nw", Count: 4,
		Log: daemon.LogOptions{Format: "text", Level: "error"}, Stdout: &out, OnSubscribed: func() { close(subscribed) }}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg) }()
	<-subscribed

	sp := subject.Space{}
	node := "ip-10-0-0-1.ec2.internal"
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pub := func(subj string, m proto.Message) {
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subj, data); err != nil {
			t.Fatal(err)
		}
	}
	probSubj, _ := sp.Problem(node)
	pub(probSubj, &nwv1.Problem{Node: node, Time: timestamppb.New(at), Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION,
		Type: "KernelDeadlock", Status: nwv1.ConditionStatus_CONDITION_STATUS_TRUE, Reason: "DockerHung", Message: "task docker:7 blocked for more than 120 seconds."})
	rebootSubj, _ := sp.RebootRequired(node)
	pub(rebootSubj, &nwv1.RebootRequired{Node: node, Time: timestamppb.New(at), RequestId: "req-1", Origin: "sentinel", Reason: "/var/run/reboot-required"})
	if err := nc.Publish(probSubj, []byte("\xffjunk")); err != nil {
		t.Fatal(err)
	}
	dead := nats.NewMsg(sp.Dead("EVENTS"))
	dead.Header.Set(consume.HeaderOriginalSubject, probSubj)
	dead.Header.Set(consume.HeaderReason, "decode: bad wire type")
	dead.Data = []byte("\xffjunk")
	if err := nc.PublishMsg(dead); err != nil {
		t.Fatal(err)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("tail did not stop after 4 messages; printed:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`2026-11-25T10:00:00Z nw.problem.ip-10-0-0-1_ec2_internal Problem node=ip-10-0-0-1.ec2.internal kind=condition type=KernelDeadlock status=true reason=DockerHung severity=unspecified source= message="task docker:7 blocked for more than 120 seconds."`,
		`2026-11-25T10:00:00Z nw.reboot.required.ip-10-0-0-1_ec2_internal RebootRequired node=ip-10-0-0-1.ec2.internal request=req-1 origin=sentinel reason="/var/run/reboot-required"`,
		`nw.problem.ip-10-0-0-1_ec2_internal <undecodable: `,
		`nw.dead.EVENTS DeadLetter original=nw.problem.ip-10-0-0-1_ec2_internal reason="decode: bad wire type" bytes=5`,
	}
	if len(lines) != len(want) {
		t.Fatalf("printed %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], w)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		args []string
		subj string
		rest []string
	}{
		{[]string{"nw.problem.>"}, "nw.problem.>", []string{}},
		{[]string{"--nats-url", "nats://x:1", "nw.>"}, "nw.>", []string{"--nats-url", "nats://x:1"}},
		{[]string{"nw.>", "--count=3"}, "nw.>", []string{"--count=3"}},
		{[]string{"--count=3"}, "", []string{"--count=3"}},
		{[]string{"--help"}, "", []string{"--help"}},
	}
	for _, tt := range tests {
		var c Config
		rest := SplitArgs(tt.args, &c)
		if c.Subject != tt.subj || strings.Join(rest, " ") != strings.Join(tt.rest, " ") {
			t.Errorf("SplitArgs(%v) = %q, %v", tt.args, c.Subject, rest)
		}
	}
}

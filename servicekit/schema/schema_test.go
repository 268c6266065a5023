package schema

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

func TestDecodeAndSummary(t *testing.T) {
	sp := subject.Space{}
	node := "ip-10-0-0-1.ec2.internal"
	must := func(s string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		subj string
		msg  proto.Message
		want string
	}{
		{must(sp.Problem(node)), &nwv1.Problem{Node: node, Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: "KernelDeadlock",
			Status: nwv1.ConditionStatus_CONDITION_STATUS_TRUE, Reason: "DockerHung", Message: "task docker:7 blocked"},
			`Problem node=ip-10-0-0-1.ec2.internal kind=condition type=KernelDeadlock status=true reason=DockerHung`},
		{must(sp.Log("kernel-monitor", node)), &nwv1.LogBatch{Node: node, Source: "kernel-monitor", Lines: []*nwv1.LogLine{{Message: "Out of memory"}}},
			`LogBatch node=ip-10-0-0-1.ec2.internal source=kernel-monitor lines=1 first="Out of memory"`},
		{must(sp.RebootStatus(node)), &nwv1.RebootStatus{Node: node, RequestId: "r1", Phase: nwv1.RebootPhase_REBOOT_PHASE_DRAINING},
			`RebootStatus node=ip-10-0-0-1.ec2.internal request=r1 phase=draining`},
		{must(sp.Health(node)), &nwv1.HealthReport{Node: node, Component: "kubelet", Message: "refused"},
			`HealthReport node=ip-10-0-0-1.ec2.internal component=kubelet healthy=false message="refused"`},
	}
	for _, tt := range tests {
		data, _ := proto.Marshal(tt.msg)
		got, err := Decode(sp, tt.subj, data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", tt.subj, err)
		}
		if !proto.Equal(got, tt.msg) {
			t.Fatalf("Decode(%s) = %v", tt.subj, got)
		}
		if s := Summary(got); !strings.HasPrefix(s, tt.want) {
			t.Errorf("Summary = %q, want prefix %q", s, tt.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	sp := subject.Space{}
	subj, _ := sp.Problem("node-1")
	other, _ := proto.Marshal(&nwv1.Problem{Node: "node-2"})
	for name, c := range map[string]struct {
		subj string
		data []byte
	}{
		"garbage":       {subj, []byte{0xff, 0xff, 0xff}},
		"truncated":     {subj, []byte{0x0a, 0x10, 'n'}},
		"node mismatch": {subj, other},
		"unknown":       {"nw.nope.node-1", nil},
	} {
		if _, err := Decode(sp, c.subj, c.data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := Decode(sp, "nw.nope.x", nil); !errors.Is(err, ErrUnknownSubject) {
		t.Errorf("unknown subject error = %v", err)
	}
}

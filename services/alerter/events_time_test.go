package alerter

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
)

// An event whose time is out of any clock's range is dead-lettered instead of being posted to
// Alertmanager, which rejects the request, again and again (found by e2e TestBadInput).
func TestEventWithImpossibleTimeIsPermanent(t *testing.T) {
	tests := []struct {
		name      string
		time      *timestamppb.Timestamp
		permanent bool
	}{
		{"after year 9999", &timestamppb.Timestamp{Seconds: 1 << 60}, true},
		{"before year 1", &timestamppb.Timestamp{Seconds: -1 << 40}, true},
		{"bad nanos", &timestamppb.Timestamp{Seconds: 1, Nanos: -5}, true},
		{"now", timestamppb.Now(), false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &events{now: time.Now} // no Alertmanager, no Kubernetes: only the checks run
			p := &nwv1.Problem{Node: "n", Id: "p", Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: "R", Time: tt.time}
			errs := e.handle(context.Background(), []*consume.Message{{Subject: "nw.problem.n", Payload: p}})
			if got := errs[0] != nil && consume.IsPermanent(errs[0]); got != tt.permanent {
				t.Fatalf("handle → %v; permanent %v, want %v", errs[0], got, tt.permanent)
			}
		})
	}
}

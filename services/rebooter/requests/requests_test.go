package requests

import (
	"context"
	"errors"
	"testing"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

func TestAddMergeStaleClear(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, topology.BucketRebootRequests)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(kv, "ip-10-0-0-1.ec2.internal")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	req := func(id, boot string) *nwv1.RebootRequired {
		return &nwv1.RebootRequired{Node: "ip-10-0-0-1.ec2.internal", RequestId: id, Reason: "sentinel", BootId: boot}
	}
	for _, step := range []struct {
		r    *nwv1.RebootRequired
		want Outcome
		ids  int
	}{
		{req("sentinel:n:b1", "b1"), Recorded, 1},
		{req("sentinel:n:b1", "b1"), Merged, 1}, // a redelivery
		{req("rule:n:KernelDeadlock:b1", "b1"), Merged, 2},
		{req("manual-1", ""), Merged, 3},
		{req("sentinel:n:b0", "b0"), Stale, 3}, // asked in a boot that ended
	} {
		got, _, err := s.Add(ctx, step.r, "b1", now)
		if err != nil || got != step.want {
			t.Fatalf("Add(%s) = %v, %v; want %v", step.r.RequestId, got, err, step.want)
		}
		rec, _, ok, err := s.Get(ctx)
		if err != nil || !ok || len(rec.RequestIDs) != step.ids || rec.BootID != "b1" || rec.ID() != "sentinel:n:b1" {
			t.Fatalf("after %s: %+v ok=%v err=%v", step.r.RequestId, rec, ok, err)
		}
	}
	rec, rev, _, _ := s.Get(ctx)
	rec.Phase, rec.Cordoned = "draining", true
	if _, err := s.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, rec, rev); err == nil {
		t.Fatal("update on a stale revision succeeded")
	}
	if got, _, _, _ := s.Get(ctx); !got.Cordoned || got.Phase != "draining" {
		t.Fatalf("progress not kept: %+v", got)
	}
	// The node rebooted: a request of the new boot waits until the old record is cleared.
	if _, _, err := s.Add(ctx, req("sentinel:n:b2", "b2"), "b2", now); !errors.Is(err, ErrCompleting) {
		t.Fatalf("Add during completion = %v, want ErrCompleting", err)
	}
	if err := s.Clear(ctx, rev); err == nil {
		t.Fatal("Clear at a stale revision succeeded")
	}
	_, rev, _, _ = s.Get(ctx)
	if err := s.Clear(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Add(ctx, req("sentinel:n:b2", "b2"), "b2", now); err != nil || got != Recorded {
		t.Fatalf("Add after Clear = %v, %v; want Recorded", got, err)
	}
	_, rev, _, _ = s.Get(ctx)
	if err := s.Clear(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := s.Get(ctx); ok {
		t.Fatal("record still there after Clear")
	}
}

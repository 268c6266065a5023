package conditions_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

func TestStore(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	s, err := conditions.Open(ctx, js, topology.BucketConditions)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "ip-10-0-0-1.ec2.internal", "KernelDeadlock"); !errors.Is(err, conditions.ErrNotFound) {
		t.Fatalf("Get of a fresh condition = %v, want ErrNotFound", err)
	}
	st := conditions.State{Node: "ip-10-0-0-1.ec2.internal", Type: "KernelDeadlock", Status: conditions.False,
		Reason: "KernelHasNoDeadlock", Since: time.Unix(1700000000, 0).UTC()}
	rev, err := s.Put(ctx, st, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, st, 0); !errors.Is(err, conditions.ErrConflict) {
		t.Fatalf("second create = %v, want ErrConflict", err)
	}
	st.Status, st.Reason = conditions.True, "DockerHung"
	rev2, err := s.Put(ctx, st, rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, st, rev); !errors.Is(err, conditions.ErrConflict) {
		t.Fatalf("update on a stale revision = %v, want ErrConflict", err)
	}
	got, grev, err := s.Get(ctx, st.Node, st.Type)
	if err != nil || grev != rev2 || got.Status != conditions.True || got.Reason != "DockerHung" || !got.Since.Equal(st.Since) {
		t.Fatalf("Get = %+v, %d, %v", got, grev, err)
	}
	other := conditions.State{Node: "n2", Type: "XfsShutdown", Status: conditions.False}
	if _, err := s.Put(ctx, other, 0); err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx, "")
	if err != nil || len(all) != 2 || all[0].Node != "ip-10-0-0-1.ec2.internal" || all[1].Node != "n2" {
		t.Fatalf("List = %+v, %v", all, err)
	}
	one, err := s.List(ctx, "n2")
	if err != nil || len(one) != 1 || one[0].Type != "XfsShutdown" {
		t.Fatalf("List(n2) = %+v, %v", one, err)
	}
}

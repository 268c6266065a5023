package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/services/detector/counter"
	"github.com/nodewarden/nodewarden/services/detector/healthrules"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// fakePub records published messages by id, failing while fail is set.
type fakePub struct {
	fail error
	ids  []string
	msgs []proto.Message
}

func (f *fakePub) Publish(_ context.Context, _, id string, m proto.Message, _ nats.Header) (*jetstream.PubAck, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	f.ids = append(f.ids, id)
	f.msgs = append(f.msgs, m)
	return &jetstream.PubAck{}, nil
}

// memStore is an in-memory conditions.Store with revisions.
type memStore struct {
	m   map[string]conditions.State
	rev map[string]uint64
	n   uint64
}

func newMemStore() *memStore {
	return &memStore{m: map[string]conditions.State{}, rev: map[string]uint64{}}
}

func (s *memStore) Get(_ context.Context, node, typ string) (conditions.State, uint64, error) {
	k := node + "/" + typ
	st, ok := s.m[k]
	if !ok {
		return conditions.State{}, 0, conditions.ErrNotFound
	}
	return st, s.rev[k], nil
}

func (s *memStore) Put(_ context.Context, st conditions.State, rev uint64) (uint64, error) {
	k := st.Node + "/" + st.Type
	if s.rev[k] != rev {
		return 0, conditions.ErrConflict
	}
	s.n++
	s.m[k], s.rev[k] = st, s.n
	return s.n, nil
}

func rules(t *testing.T) *Rules {
	t.Helper()
	mon, err := npdconfig.Load("../rules/kernel-monitor.json")
	if err != nil {
		t.Fatal(err)
	}
	set, err := matcher.Compile(mon)
	if err != nil {
		t.Fatal(err)
	}
	return &Rules{Monitors: map[string]*Monitor{mon.Source: {File: mon, Set: set}}, Health: healthrules.Default()}
}

func batch(first uint64, lines ...string) *nwv1.LogBatch {
	b := &nwv1.LogBatch{Node: "n1", Source: "kernel-monitor", StreamId: "kmsg:b1", FirstSeq: first}
	for i, l := range lines {
		b.Lines = append(b.Lines, &nwv1.LogLine{Seq: first + uint64(i), Time: timestamppb.New(time.Unix(1700000000+int64(i), 0)), Message: l})
	}
	return b
}

const (
	oops = "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008"
	xfs  = "XFS (sdb1): Log I/O Error Detected. Shutting down filesystem"
)

// A publish that fails mid-batch is resumed by the retry without pushing lines twice or
// publishing anything twice; a redelivered batch publishes nothing.
func TestResumeAfterFailure(t *testing.T) {
	pub, store := &fakePub{}, newMemStore()
	e := New(rules(t), subject.Space{Prefix: "nw"}, pub, store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	b := batch(1, "ordinary line", oops, xfs, oops)

	pub.fail = errors.New("nats down")
	if err := e.Handle(ctx, b); err == nil {
		t.Fatal("Handle succeeded while publishing fails")
	}
	pub.fail = nil
	if err := e.Handle(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := e.Handle(ctx, b); err != nil { // a redelivery
		t.Fatal(err)
	}
	want := []string{
		"ev:n1:kernel-monitor:kmsg:b1:2:3",
		"cond:n1:XfsShutdown:kernel-monitor:kmsg:b1:3",
		"ev:n1:kernel-monitor:kmsg:b1:4:3",
	}
	if len(pub.ids) != len(want) {
		t.Fatalf("published %q, want %q", pub.ids, want)
	}
	for i := range want {
		if pub.ids[i] != want[i] {
			t.Errorf("published[%d] = %q, want %q", i, pub.ids[i], want[i])
		}
	}
	if c := e.Counts(); c.Lines != 4 || c.Events != 2 || c.Changes != 1 {
		t.Errorf("counts = %+v, want 4 lines, 2 events, 1 change", c)
	}
	if st, _, _ := store.Get(ctx, "n1", "XfsShutdown"); st.Status != conditions.True || st.BootID != "b1" {
		t.Errorf("XfsShutdown = %+v", st)
	}
}

// A gap in the sequence is counted; a new boot clears the log conditions of the old one.
func TestGapsAndReboot(t *testing.T) {
	pub, store := &fakePub{}, newMemStore()
	e := New(rules(t), subject.Space{Prefix: "nw"}, pub, store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if err := e.Handle(ctx, batch(1, xfs)); err != nil {
		t.Fatal(err)
	}
	if err := e.Handle(ctx, batch(10, "after a gap")); err != nil {
		t.Fatal(err)
	}
	if c := e.Counts(); c.Gaps != 8 || c.GapsByNode["n1"] != 8 {
		t.Errorf("gaps = %+v, want 8 for n1", c)
	}
	sample := func(boot string) *nwv1.NodeSample {
		return &nwv1.NodeSample{Node: "n1", BootId: boot, Seq: 1, Time: timestamppb.New(time.Unix(1700000100, 0)),
			CollectorStart: timestamppb.New(time.Unix(1700000000, 0))}
	}
	if err := e.Handle(ctx, sample("b1")); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := store.Get(ctx, "n1", "XfsShutdown"); st.Status != conditions.True {
		t.Fatalf("XfsShutdown cleared without a reboot: %+v", st)
	}
	if err := e.Handle(ctx, sample("b2")); err != nil {
		t.Fatal(err)
	}
	st, _, _ := store.Get(ctx, "n1", "XfsShutdown")
	if st.Status != conditions.False || st.Reason != "XfsHasNotShutDown" {
		t.Fatalf("XfsShutdown after a reboot = %+v, want False with the default reason", st)
	}
	last := pub.msgs[len(pub.msgs)-1].(*nwv1.Problem)
	if last.Type != "XfsShutdown" || last.Status != nwv1.ConditionStatus_CONDITION_STATUS_FALSE {
		t.Errorf("last problem = %v, want XfsShutdown False", last)
	}
}

// Health reports turn into conditions through the default rules, and a retry after a failed
// publish still records the change the rules already made.
func TestHealthChangeSurvivesFailure(t *testing.T) {
	pub, store := &fakePub{}, newMemStore()
	e := New(rules(t), subject.Space{Prefix: "nw"}, pub, store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	start := time.Unix(1700000000, 0)
	report := func(seq uint64, healthy bool) *nwv1.HealthReport {
		return &nwv1.HealthReport{Node: "n1", Component: "kubelet", Seq: seq, Healthy: healthy, Message: "connection refused",
			Time: timestamppb.New(start.Add(time.Duration(seq) * 10 * time.Second))}
	}
	// The default kubelet rule fires on the third consecutive failure; that publish fails.
	for seq := uint64(1); seq <= 2; seq++ {
		if err := e.Handle(ctx, report(seq, false)); err != nil {
			t.Fatal(err)
		}
	}
	pub.fail = errors.New("nats down")
	if err := e.Handle(ctx, report(3, false)); err == nil {
		t.Fatal("the third failure published nothing: the default rule did not fire there")
	}
	pub.fail = nil
	if err := e.Handle(ctx, report(3, false)); err != nil { // the consumer's retry
		t.Fatal(err)
	}
	st, _, _ := store.Get(ctx, "n1", "KubeletUnhealthy")
	if st.Status != conditions.True {
		t.Fatalf("KubeletUnhealthy after 3 failed checks = %+v (published %q)", st, pub.ids)
	}
	if len(pub.ids) != 1 {
		t.Errorf("published %q, want one change", pub.ids)
	}
}

// NPD's log-counter file: three unregister_netdevice lines within 20 minutes set the
// condition; the window sliding past them (on a node sample's clock) clears it.
func TestCounterRules(t *testing.T) {
	f, err := counter.Load("../../../../shared/compat/npd/kernel-monitor-counter.json")
	if err != nil {
		t.Skipf("compat file: %v", err)
	}
	r := rules(t)
	r.Counters = []*counter.File{f}
	pub, store := &fakePub{}, newMemStore()
	e := New(r, subject.Space{Prefix: "nw"}, pub, store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	line := "unregister_netdevice: waiting for eth0 to become free. Usage count = 1"
	if err := e.Handle(ctx, batch(1, line, line)); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := store.Get(ctx, "n1", "FrequentUnregisterNetDevice"); st.Status != conditions.False {
		t.Fatalf("after 2 lines: %+v", st)
	}
	if err := e.Handle(ctx, batch(3, line)); err != nil {
		t.Fatal(err)
	}
	st, _, _ := store.Get(ctx, "n1", "FrequentUnregisterNetDevice")
	if st.Status != conditions.True || st.Reason != "UnregisterNetDevice" {
		t.Fatalf("after 3 lines: %+v", st)
	}
	later := &nwv1.NodeSample{Node: "n1", BootId: "b1", Seq: 1, Time: timestamppb.New(time.Unix(1700000000+3600, 0)),
		CollectorStart: timestamppb.New(time.Unix(1700000000, 0))}
	if err := e.Handle(ctx, later); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := store.Get(ctx, "n1", "FrequentUnregisterNetDevice"); st.Status != conditions.False {
		t.Fatalf("an hour later: %+v", st)
	}
}

// A rule's clearAfter sets its condition back to False that long after the last matching line,
// on the node's clock; a new match in between moves it later, and a restart keeps it.
func TestClearAfter(t *testing.T) {
	mon, err := npdconfig.Load("testdata/clear-after.json")
	if err != nil {
		t.Fatal(err)
	}
	set, err := matcher.Compile(mon)
	if err != nil {
		t.Fatal(err)
	}
	r := &Rules{Monitors: map[string]*Monitor{mon.Source: {File: mon, Set: set}}}
	pub, store := &fakePub{}, newMemStore()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := New(r, subject.Space{Prefix: "nw"}, pub, store, nil, quiet)
	ctx := context.Background()
	at := func(minutes int, first uint64, msg string) *nwv1.LogBatch {
		b := batch(first, msg)
		b.Lines[0].Time = timestamppb.New(time.Unix(1700000000, 0).Add(time.Duration(minutes) * time.Minute))
		return b
	}
	status := func() string { st, _, _ := store.Get(ctx, "n1", "XfsShutdown"); return st.Status }
	for _, step := range []struct {
		e      *Engine
		b      *nwv1.LogBatch
		status string
	}{
		{e, at(0, 1, xfs), conditions.True},
		{e, at(8, 2, xfs), conditions.True},         // moves the clearing to 18m
		{e, at(15, 3, "ordinary"), conditions.True}, // 10m after the first, not after the last
		{New(r, subject.Space{Prefix: "nw"}, pub, store, nil, quiet), at(17, 4, "ordinary"), conditions.True}, // a restart
		{nil, at(19, 5, "ordinary"), conditions.False},
	} {
		if step.e != nil {
			e = step.e
		}
		if err := e.Handle(ctx, step.b); err != nil {
			t.Fatal(err)
		}
		if got := status(); got != step.status {
			t.Fatalf("after line %d: XfsShutdown %s, want %s", step.b.FirstSeq, got, step.status)
		}
	}
	st, _, _ := store.Get(ctx, "n1", "XfsShutdown")
	if st.Reason != "XfsHasNotShutDown" || !st.Since.Equal(time.Unix(1700000000, 0).Add(18*time.Minute)) {
		t.Errorf("cleared state = %+v, want the default reason since 18m", st)
	}
}

// A rule with reboot set asks for a reboot when its condition becomes True, naming the condition
// so the rebooter can ignore the alert raised for it.
func TestRuleRequestsReboot(t *testing.T) {
	mon, err := npdconfig.Load("../rules/kernel-monitor.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range mon.Rules {
		if mon.Rules[i].Condition == "XfsShutdown" {
			mon.Rules[i].Reboot = true
		}
	}
	set, err := matcher.Compile(mon)
	if err != nil {
		t.Fatal(err)
	}
	r := &Rules{Monitors: map[string]*Monitor{mon.Source: {File: mon, Set: set}}}
	pub, store := &fakePub{}, newMemStore()
	e := New(r, subject.Space{Prefix: "nw"}, pub, store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := e.Handle(context.Background(), batch(1, xfs)); err != nil {
		t.Fatal(err)
	}
	var got *nwv1.RebootRequired
	for _, m := range pub.msgs {
		if rr, ok := m.(*nwv1.RebootRequired); ok {
			got = rr
		}
	}
	if got == nil {
		t.Fatalf("published %q, no reboot request", pub.ids)
	}
	if got.Node != "n1" || got.RequestId != "rule:n1:XfsShutdown:b1" || got.Origin != "detector" ||
		got.BootId != "b1" || got.Condition != "XfsShutdown" || got.Reason != "XfsHasShutdown" {
		t.Errorf("reboot request = %v, want node n1, id rule:n1:XfsShutdown:b1, origin detector, boot b1, condition XfsShutdown", got)
	}
	if c := e.Counts(); c.Reboots != 1 {
		t.Errorf("reboots = %d, want 1", c.Reboots)
	}
}

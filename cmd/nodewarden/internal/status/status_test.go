package status

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

func TestStatusAndClear(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	store, err := conditions.Open(ctx, js, topology.BucketConditions)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, st := range []conditions.State{
		{Node: "ip-10-0-0-1.ec2.internal", Type: "XfsShutdown", Status: conditions.True, Reason: "XfsHasShutdown",
			Message: "XFS (sdb1): Log I/O Error Detected. Shutting down filesystem", Source: "kernel-monitor", Since: since},
		{Node: "ip-10-0-0-1.ec2.internal", Type: "KernelDeadlock", Status: conditions.False, Reason: "KernelHasNoDeadlock", Since: since},
		{Node: "n2", Type: "KubeletUnhealthy", Status: conditions.False, Reason: "KubeletIsHealthy", Since: since},
	} {
		if _, err := store.Put(ctx, st, 0); err != nil {
			t.Fatal(err)
		}
	}
	cfg := func(edit func(*Config)) (Config, *bytes.Buffer) {
		var c Config
		c.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
		c.NATS.URL = srv.URL()
		out := &bytes.Buffer{}
		c.Stdout = out
		c.Now = func() time.Time { return since.Add(90 * time.Minute) }
		if edit != nil {
			edit(&c)
		}
		return c, out
	}

	c, out := cfg(nil)
	if err := Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NODE") ||
		!strings.Contains(lines[2], "XfsShutdown") || !strings.Contains(lines[2], "True") || !strings.Contains(lines[2], "2026-11-25T10:00:00Z (1h ago)") ||
		!strings.HasPrefix(lines[3], "n2 ") {
		t.Fatalf("status:\n%s", out)
	}

	c, out = cfg(func(c *Config) { c.ProblemsOnly = true })
	if err := Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); len(got) != 2 || !strings.Contains(got[1], "XfsShutdown") {
		t.Fatalf("status --problems-only:\n%s", out)
	}
	c, out = cfg(func(c *Config) { c.Node = "n2" })
	if err := Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); len(got) != 2 || !strings.Contains(got[1], "KubeletUnhealthy") {
		t.Fatalf("status --node n2:\n%s", out)
	}

	c, out = cfg(func(c *Config) { c.Args = []string{"ip-10-0-0-1.ec2.internal", "XfsShutdown"} })
	if err := Clear(ctx, c); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := store.Get(ctx, "ip-10-0-0-1.ec2.internal", "XfsShutdown"); st.Status != conditions.False || st.Reason != "ClearedByOperator" {
		t.Fatalf("after clear: %+v", st)
	}
	stream, err := js.Stream(ctx, topology.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("EVENTS after clear: %v, %v; want the one change", info.State.Msgs, err)
	}
	c, out = cfg(func(c *Config) { c.Args = []string{"ip-10-0-0-1.ec2.internal", "XfsShutdown"} })
	if err := Clear(ctx, c); err != nil || !strings.Contains(out.String(), "already False") {
		t.Fatalf("second clear: %v %s", err, out)
	}
	c, _ = cfg(func(c *Config) { c.Args = []string{"n3", "XfsShutdown"} })
	if err := Clear(ctx, c); err == nil || !strings.Contains(err.Error(), "no condition") {
		t.Fatalf("clear of an unknown condition = %v", err)
	}
	c, _ = cfg(func(c *Config) { c.Args = []string{"n3"} })
	if err := Clear(ctx, c); err == nil {
		t.Fatal("clear with one argument succeeded")
	}
}

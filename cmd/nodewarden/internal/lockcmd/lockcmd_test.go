package lockcmd

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/rebooter/lock"
)

func TestStatusAndRelease(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, topology.BucketRebootLock)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(args ...string) (Config, *bytes.Buffer) {
		var c Config
		c.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
		c.NATS.URL = srv.URL()
		out := &bytes.Buffer{}
		c.Stdout, c.Args = out, args
		return c, out
	}
	c, out := cfg()
	if err := Status(ctx, c); err != nil || !strings.Contains(out.String(), "free") {
		t.Fatalf("status of a free lock: %v %q", err, out)
	}
	l, err := lock.New(kv, lock.Options{Node: "ip-10-0-0-1.ec2.internal", Slots: 1, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.TryAcquire(ctx, "sentinel:ip-10-0-0-1.ec2.internal:b1"); err != nil || !ok {
		t.Fatalf("TryAcquire = %v, %v", ok, err)
	}
	c, out = cfg()
	if err := Status(ctx, c); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "ip-10-0-0-1.ec2.internal") || !strings.Contains(s, "sentinel:ip-10-0-0-1.ec2.internal:b1") {
		t.Fatalf("status:\n%s", s)
	}
	c, _ = cfg("ip-10-0-0-1.ec2.internal")
	if err := Release(ctx, c); !config.IsConfigError(err) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("release without --force = %v", err)
	}
	c, out = cfg("ip-10-0-0-1.ec2.internal")
	c.Force = true
	if err := Release(ctx, c); err != nil || !strings.Contains(out.String(), "released") {
		t.Fatalf("release: %v %q", err, out)
	}
	if hs, err := lock.Holders(ctx, kv); err != nil || len(hs) != 0 {
		t.Fatalf("holders after release = %v, %v", hs, err)
	}
}

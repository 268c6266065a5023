package rebooter_test

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/rebooter"
)

func defaults() rebooter.Config {
	var cfg rebooter.Config
	cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
	cfg.Node = "ip-10-0-0-1.ec2.internal"
	return cfg
}

func TestRunBecomesReady(t *testing.T) {
	testenv.CheckServiceStarts(t, "rebooter", func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		return rebooter.Run(ctx, cfg)
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := defaults()
	cfg.Common = testenv.Common("nats://127.0.0.1:4222")
	cfg.RebootMethod = "kexec"
	if err := rebooter.Run(context.Background(), cfg); !config.IsConfigError(err) || !strings.Contains(err.Error(), "--reboot-method") {
		t.Fatalf("Run = %v, want a config error naming --reboot-method", err)
	}
}

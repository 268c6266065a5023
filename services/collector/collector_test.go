package collector_test

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/collector"
)

func defaults() collector.Config {
	var cfg collector.Config
	cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
	cfg.Node = "ip-10-0-0-1.ec2.internal"
	return cfg
}

func TestRunBecomesReady(t *testing.T) {
	testenv.CheckServiceStarts(t, "collector", func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		return collector.Run(ctx, cfg)
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := defaults()
	cfg.Common = testenv.Common("nats://127.0.0.1:4222")
	cfg.Node = "bad node"
	if err := collector.Run(context.Background(), cfg); !config.IsConfigError(err) || !strings.Contains(err.Error(), "--node") {
		t.Fatalf("Run = %v, want a config error naming --node", err)
	}
}

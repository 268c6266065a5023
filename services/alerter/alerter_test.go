package alerter_test

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/alerter"
)

func defaults() alerter.Config {
	var cfg alerter.Config
	cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))

	return cfg
}

func TestRunBecomesReady(t *testing.T) {
	testenv.CheckServiceStarts(t, "alerter", func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		return alerter.Run(ctx, cfg)
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := defaults()
	cfg.Common = testenv.Common("nats://127.0.0.1:4222")
	cfg.Common.Log.Format = "xml"
	if err := alerter.Run(context.Background(), cfg); !config.IsConfigError(err) || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("Run = %v, want a config error naming --log-format", err)
	}
}

package sink_test

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/sink"
)

func defaults() sink.Config {
	var cfg sink.Config
	cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))

	return cfg
}

func TestRunBecomesReady(t *testing.T) {
	testenv.CheckServiceStarts(t, "sink", func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		return sink.Run(ctx, cfg)
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := defaults()
	cfg.Common = testenv.Common("nats://127.0.0.1:4222")
	cfg.Common.HTTPAddr = "nowhere"
	if err := sink.Run(context.Background(), cfg); !config.IsConfigError(err) || !strings.Contains(err.Error(), "--http-listen") {
		t.Fatalf("Run = %v, want a config error naming --http-listen", err)
	}
}

package collector_test

import (
	"context"
	"flag"
	"io"
	"net/http"
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

// Against a provisioned server the collector becomes ready, serves its metrics, and stops cleanly.
func TestRunBecomesReady(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	base := testenv.RunService(t, srv.URL(), func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		return collector.Run(ctx, cfg)
	})
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `nodewarden_build_info{service="collector"`) {
		t.Fatalf("/metrics lacks the build info:\n%s", body)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := defaults()
	cfg.Common = testenv.Common("nats://127.0.0.1:4222")
	cfg.Node = "bad node"
	err := collector.Run(context.Background(), cfg)
	if !config.IsConfigError(err) || !strings.Contains(err.Error(), "--node") {
		t.Fatalf("Run = %v, want a config error naming --node", err)
	}
}

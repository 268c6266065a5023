package detector_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/detector"
)

func defaults() detector.Config {
	var cfg detector.Config
	cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))

	return cfg
}

func TestRunBecomesReady(t *testing.T) {
	testenv.CheckServiceStarts(t, "detector", func(ctx context.Context, c daemon.Common) error {
		cfg := defaults()
		cfg.Common = c
		return detector.Run(ctx, cfg)
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := defaults()
	cfg.Common = testenv.Common("nats://127.0.0.1:4222")
	cfg.Common.Prefix = "nw.>"
	if err := detector.Run(context.Background(), cfg); !config.IsConfigError(err) || !strings.Contains(err.Error(), "--subject-prefix") {
		t.Fatalf("Run = %v, want a config error naming --subject-prefix", err)
	}
}

// The built-in rules are NPD's kernel-monitor.json, unchanged.
func TestBuiltInRulesAreNPDs(t *testing.T) {
	want, err := os.ReadFile("../../../shared/compat/npd/kernel-monitor.json")
	if err != nil {
		t.Skipf("compat copy not beside the checkout: %v", err)
	}
	got, err := os.ReadFile("rules/kernel-monitor.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("rules/kernel-monitor.json differs from NPD's kernel-monitor.json in ../shared/compat")
	}
}

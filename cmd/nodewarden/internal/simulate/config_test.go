package simulate

import (
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
)

// defaults is a Config as the flags leave it.
func defaults(t *testing.T) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.AddFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // the flag named; empty = valid
	}{
		{name: "defaults", change: func(*Config) {}},
		{name: "many nodes, no containers, no logs", change: func(c *Config) { c.Nodes, c.Containers, c.LogRate = 5000, 0, 0 }},
		{name: "dotted node prefix", change: func(c *Config) { c.NodePrefix = "ip-10-0-0-1.ec2.internal-" }},
		{name: "no nodes", change: func(c *Config) { c.Nodes = 0 }, wantErr: "--nodes"},
		{name: "too many nodes", change: func(c *Config) { c.Nodes = maxNodes + 1 }, wantErr: "--nodes"},
		{name: "negative containers", change: func(c *Config) { c.Containers = -1 }, wantErr: "--containers"},
		{name: "zero interval", change: func(c *Config) { c.Interval = 0 }, wantErr: "--interval"},
		{name: "negative duration", change: func(c *Config) { c.Duration = -time.Second }, wantErr: "--duration"},
		{name: "negative log rate", change: func(c *Config) { c.LogRate = -1 }, wantErr: "--log-rate"},
		{name: "NaN log rate", change: func(c *Config) { c.LogRate = math.NaN() }, wantErr: "--log-rate"},
		{name: "match rate above 1", change: func(c *Config) { c.MatchRate = 1.5 }, wantErr: "--match-rate"},
		{name: "negative unhealthy rate", change: func(c *Config) { c.UnhealthyRate = -0.1 }, wantErr: "--unhealthy-rate"},
		{name: "no concurrency", change: func(c *Config) { c.Concurrency = 0 }, wantErr: "--concurrency"},
		{name: "node prefix with a space", change: func(c *Config) { c.NodePrefix = "sim node " }, wantErr: "--node-prefix"},
		{name: "node prefix with a wildcard", change: func(c *Config) { c.NodePrefix = "sim>" }, wantErr: "--node-prefix"},
		{name: "bad subject prefix", change: func(c *Config) { c.Prefix = "nw..x" }, wantErr: "--subject-prefix"},
		{name: "zero timeout", change: func(c *Config) { c.Timeout = 0 }, wantErr: "--timeout"},
		{name: "bad NATS URL", change: func(c *Config) { c.NATS.URL = "http://x:1" }, wantErr: "--nats-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults(t)
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !config.IsConfigError(err) {
				t.Fatalf("Validate = %v, want a configuration error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestNodeName(t *testing.T) {
	tests := []struct {
		prefix string
		i, n   int
		want   string
	}{
		{"sim-node-", 1, 1, "sim-node-0001"},
		{"sim-node-", 1000, 1000, "sim-node-1000"},
		{"sim-node-", 7, 20000, "sim-node-00007"},
		{"ip-10-0-0-1.ec2.internal-", 2, 3, "ip-10-0-0-1.ec2.internal-0002"},
	}
	for _, tt := range tests {
		if got := nodeName(tt.prefix, tt.i, tt.n); got != tt.want {
			t.Errorf("nodeName(%q, %d, %d) = %q, want %q", tt.prefix, tt.i, tt.n, got, tt.want)
		}
	}
}

// Bad flags and environment values exit 2 with a message naming the flag, before anything
// connects.
func TestExecuteRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{args: []string{"--nodes", "0"}, want: []string{"--nodes", `"0"`}},
		{args: []string{"--match-rate", "2"}, want: []string{"--match-rate", `"2"`}},
		{args: []string{"--interval", "soon"}, want: []string{"interval"}},
		{env: map[string]string{"NW_CONTAINERS": "-3"}, want: []string{"--containers", "NW_CONTAINERS"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+strings.Join(keys(tt.env), ","), func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr strings.Builder
			ran := false
			cfg := Config{Stdout: &stdout}
			code := daemon.Execute(context.Background(), "nodewarden simulate", Summary, tt.args, &stdout, &stderr, &cfg,
				func(context.Context) error { ran = true; return errors.New("must not run") })
			if code != daemon.ExitConfig || ran {
				t.Fatalf("exit %d (ran %v), want %d; stderr: %s", code, ran, daemon.ExitConfig, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not say %s", stderr.String(), w)
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

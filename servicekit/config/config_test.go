package config

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

type opts struct {
	url      string
	interval time.Duration
	replicas int
	monitors StringList
}

func newFS(o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.url, "nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "how often")
	fs.IntVar(&o.replicas, "replicas", 1, "stream replicas")
	fs.Var(&o.monitors, "log-monitor", "NPD monitor file (repeatable)")
	return fs
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		want     opts
		wantErr  bool
		errNames []string // substrings the error must hold
	}{
		{name: "defaults", want: opts{url: "nats://127.0.0.1:4222", interval: 10 * time.Second, replicas: 1}},
		{name: "flag wins over env", args: []string{"--nats-url", "nats://a:1"}, env: map[string]string{"NW_NATS_URL": "nats://b:2"},
			want: opts{url: "nats://a:1", interval: 10 * time.Second, replicas: 1}},
		{name: "env fallback", env: map[string]string{"NW_INTERVAL": "3s", "NW_REPLICAS": "3"},
			want: opts{url: "nats://127.0.0.1:4222", interval: 3 * time.Second, replicas: 3}},
		{name: "env list", env: map[string]string{"NW_LOG_MONITOR": "a.json, b.json"},
			want: opts{url: "nats://127.0.0.1:4222", interval: 10 * time.Second, replicas: 1, monitors: StringList{"a.json", "b.json"}}},
		{name: "repeated flag", args: []string{"--log-monitor=a.json", "--log-monitor=b.json"},
			want: opts{url: "nats://127.0.0.1:4222", interval: 10 * time.Second, replicas: 1, monitors: StringList{"a.json", "b.json"}}},
		{name: "bad flag value", args: []string{"--interval", "soon"}, wantErr: true, errNames: []string{"interval", "soon"}},
		{name: "bad env value", env: map[string]string{"NW_REPLICAS": "three"}, wantErr: true, errNames: []string{"--replicas", "three", "NW_REPLICAS"}},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: true, errNames: []string{"nope"}},
		{name: "stray argument", args: []string{"extra"}, wantErr: true, errNames: []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o opts
			fs := newFS(&o)
			_, err := ParseWithEnv(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr {
				if !IsConfigError(err) {
					t.Fatalf("err = %v, want a config error", err)
				}
				for _, s := range tt.errNames {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.url != tt.want.url || o.interval != tt.want.interval || o.replicas != tt.want.replicas ||
				o.monitors.String() != tt.want.monitors.String() {
				t.Fatalf("got %+v, want %+v", o, tt.want)
			}
		})
	}
}

func TestHelpNamesEnv(t *testing.T) {
	var o opts
	fs := newFS(&o)
	var out strings.Builder
	fs.SetOutput(&out)
	_, err := ParseWithEnv(fs, []string{"--help"}, func(string) (string, bool) { return "", false })
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "NW_NATS_URL") {
		t.Fatalf("help does not name the env var:\n%s", out.String())
	}
}

func TestAnnotateNamesEnv(t *testing.T) {
	var o opts
	fs := newFS(&o)
	fromEnv, err := ParseWithEnv(fs, nil, func(k string) (string, bool) { return "0", k == "NW_REPLICAS" })
	if err != nil {
		t.Fatal(err)
	}
	err = fromEnv.Annotate(Invalid("replicas", o.replicas, "must be positive"))
	if !strings.Contains(err.Error(), "NW_REPLICAS") || !strings.Contains(err.Error(), "--replicas") {
		t.Fatalf("error = %v", err)
	}
	if err := fromEnv.Annotate(Invalid("interval", "0s", "must be positive")); strings.Contains(err.Error(), "NW_") {
		t.Fatalf("a flag not from the environment was annotated: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	err := Invalid("interval", "0s", "must be positive")
	if !IsConfigError(err) || err.Error() != `invalid value "0s" for flag --interval: must be positive` {
		t.Fatalf("got %v", err)
	}
	if err := OneOf("log-format", "xml", "json", "text"); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("OneOf = %v", err)
	}
}

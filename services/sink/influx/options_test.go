package influx_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/services/sink/influx"
)

func TestOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	on := func(mod func(*influx.Options)) influx.Options {
		o := influx.DefaultOptions()
		o.URL, o.Bucket = "http://influxdb:8086", "nodewarden/autogen"
		mod(&o)
		return o
	}
	tests := []struct {
		name     string
		opts     influx.Options
		wantFlag string // "" = valid
		wantText string
	}{
		{"off by default", influx.DefaultOptions(), "", ""},
		{"on", on(func(*influx.Options) {}), "", ""},
		{"token file", on(func(o *influx.Options) { o.TokenFile = tokenFile }), "", ""},
		{"bad url", on(func(o *influx.Options) { o.URL = "influxdb:8086" }), "influx-url", ""},
		{"no bucket", on(func(o *influx.Options) { o.Bucket = "" }), "influx-bucket", ""},
		{"token twice", on(func(o *influx.Options) { o.Token, o.TokenFile = "t", tokenFile }), "influx-token-file", ""},
		{"missing token file", on(func(o *influx.Options) { o.TokenFile = missing }), "influx-token-file", missing},
		{"zero batch", on(func(o *influx.Options) { o.Batch = 0 }), "influx-batch", ""},
		{"zero flush", on(func(o *influx.Options) { o.Flush = 0 }), "influx-flush", ""},
		{"zero timeout", on(func(o *influx.Options) { o.Timeout = 0 }), "influx-timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.wantFlag == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !config.IsConfigError(err) || !strings.Contains(err.Error(), "--"+tt.wantFlag) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Validate = %v, want a config error naming --%s and %q", err, tt.wantFlag, tt.wantText)
			}
		})
	}
}

package promexp

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stale   time.Duration // Staleness() when valid
		badFlag string        // the flag a Validate error names
	}{
		{name: "defaults", stale: 50 * time.Second},
		{name: "interval sets the default", args: []string{"--sample-interval=30s"}, stale: 150 * time.Second},
		{name: "explicit", args: []string{"--stale-after=2m"}, stale: 2 * time.Minute},
		{name: "negative", args: []string{"--stale-after=-1s"}, badFlag: "stale-after"},
		{name: "shorter than an interval", args: []string{"--stale-after=5s"}, badFlag: "stale-after"},
		{name: "zero interval", args: []string{"--sample-interval=0s"}, badFlag: "sample-interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Options
			fs := flag.NewFlagSet("sink", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if tc.badFlag != "" {
				if !config.IsConfigError(err) || !strings.Contains(err.Error(), "--"+tc.badFlag) {
					t.Fatalf("Validate() = %v, want a configuration error naming --%s", err, tc.badFlag)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Staleness(); got != tc.stale {
				t.Errorf("Staleness() = %s, want %s", got, tc.stale)
			}
		})
	}
}

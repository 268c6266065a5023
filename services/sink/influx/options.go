// Package influx is the sink's InfluxDB output: it turns samples, health reports, problems and
// reboot status into points (schema in SCHEMA.md) and writes a consumer's batch in one
// blocking write through influxdb-client-go, acking only what InfluxDB accepted. Retryable
// failures (network, 5xx, 429) are retried in place with the same points; since a point's
// identity is measurement + tags + the message's own time, a retried or redelivered batch
// overwrites itself instead of double-counting. A batch InfluxDB rejects as bad data is split
// to find the offending messages, which are dead-lettered; the rest is written. It works with
// InfluxDB 1.8+ (bucket "db/rp" on /api/v2/write) and 2.x.
package influx

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// Options configure the output. An empty URL turns it off.
type Options struct {
	URL       string
	Token     string
	TokenFile string
	Org       string
	Bucket    string
	// Batch is the number of points per write (and the weight of a consumer batch).
	Batch int
	// Flush is how long a batch waits for more points after its first message.
	Flush time.Duration
	// Timeout bounds one write request.
	Timeout time.Duration
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	return Options{Batch: 5000, Flush: time.Second, Timeout: 10 * time.Second}
}

// AddFlags registers the --influx-* flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	d := DefaultOptions()
	fs.StringVar(&o.URL, "influx-url", "", "InfluxDB URL, e.g. http://influxdb:8086; empty = no InfluxDB output")
	fs.StringVar(&o.Token, "influx-token", "", "InfluxDB API token (2.x), or user:password (1.8); empty = none")
	fs.StringVar(&o.TokenFile, "influx-token-file", "", "file holding the InfluxDB token (instead of --influx-token)")
	fs.StringVar(&o.Org, "influx-org", "", "InfluxDB organization (2.x); empty for 1.8")
	fs.StringVar(&o.Bucket, "influx-bucket", "", `InfluxDB bucket; for InfluxDB 1.8 "database/retention-policy"`)
	fs.IntVar(&o.Batch, "influx-batch", d.Batch, "points per InfluxDB write")
	fs.DurationVar(&o.Flush, "influx-flush", d.Flush, "write a partial batch this long after its first message")
	fs.DurationVar(&o.Timeout, "influx-timeout", d.Timeout, "timeout of one InfluxDB write request")
}

// Enabled reports whether the output is configured.
func (o Options) Enabled() bool { return o.URL != "" }

// Validate checks the options; with the output off only the numbers are checked.
func (o Options) Validate() error {
	if o.Batch < 1 {
		return config.Invalid("influx-batch", o.Batch, "must be at least 1")
	}
	if o.Flush <= 0 {
		return config.Invalid("influx-flush", o.Flush, "must be positive")
	}
	if o.Timeout <= 0 {
		return config.Invalid("influx-timeout", o.Timeout, "must be positive")
	}
	if !o.Enabled() {
		return nil
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config.Invalid("influx-url", o.URL, "want http(s)://host:port")
	}
	if o.Bucket == "" {
		return config.Invalid("influx-bucket", o.Bucket, "required with --influx-url")
	}
	if o.Token != "" && o.TokenFile != "" {
		return config.Invalid("influx-token-file", o.TokenFile, "give --influx-token or --influx-token-file, not both")
	}
	_, err = o.token()
	return err
}

// token is the token to send: --influx-token, or the trimmed content of --influx-token-file.
func (o Options) token() (string, error) {
	if o.TokenFile == "" {
		return o.Token, nil
	}
	b, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return "", config.Invalid("influx-token-file", o.TokenFile, "read %s: %v", o.TokenFile, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", config.Invalid("influx-token-file", o.TokenFile, "%s is empty", o.TokenFile)
	}
	return tok, nil
}

func (o Options) String() string {
	return fmt.Sprintf("url=%s org=%q bucket=%q batch=%d flush=%s", o.URL, o.Org, o.Bucket, o.Batch, o.Flush)
}

package am

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Options{URLs: []string{"http://am:9093"}, Timeout: time.Second}
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		flag string // "" = valid
	}{
		{"plain", func(*Options) {}, ""},
		{"basic auth", func(o *Options) { o.BasicAuthUser, o.BasicAuthPassFile = "nw", pass }, ""},
		{"ftp", func(o *Options) { o.URLs = []string{"ftp://am"} }, "alertmanager-url"},
		{"no host", func(o *Options) { o.URLs = []string{"http://"} }, "alertmanager-url"},
		{"both auths", func(o *Options) { o.BasicAuthUser, o.BearerTokenFile = "nw", pass }, "alertmanager-bearer-token-file"},
		{"missing password file", func(o *Options) { o.BasicAuthUser, o.BasicAuthPassFile = "nw", dir+"/none" }, "alertmanager-password-file"},
		{"missing token file", func(o *Options) { o.BearerTokenFile = dir + "/none" }, "alertmanager-bearer-token-file"},
		{"cert without key", func(o *Options) { o.TLSCert = pass }, "alertmanager-tls-cert"},
		{"CA not PEM", func(o *Options) { o.TLSCA = pass }, "alertmanager-tls-ca"},
		{"zero timeout", func(o *Options) { o.Timeout = 0 }, "alertmanager-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			err := o.Validate()
			if tc.flag == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !config.IsConfigError(err) || !strings.Contains(err.Error(), "--"+tc.flag) {
				t.Fatalf("Validate = %v, want a config error naming --%s", err, tc.flag)
			}
		})
	}
}

// TestPostHAPair: a post goes to both Alertmanagers with the credentials; it succeeds while one
// takes it and fails, naming both, when neither does.
func TestPostHAPair(t *testing.T) {
	var got atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "nw" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/prefix/api/v2/alerts" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	alerts := models.PostableAlerts{{Alert: models.Alert{Labels: models.LabelSet{"alertname": "KernelDeadlock"}}}}
	c, err := New(Options{URLs: []string{up.URL + "/prefix", down.URL}, BasicAuthUser: "nw", BasicAuthPassFile: pass, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	failed, err := c.Post(context.Background(), alerts)
	if err != nil || len(failed) != 1 || failed[0] != down.URL || got.Load() != 1 {
		t.Fatalf("Post = %v, %v (delivered %d); want success with %s failed", failed, err, got.Load(), down.URL)
	}
	c, err = New(Options{URLs: []string{down.URL, down.URL + "/other"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if failed, err := c.Post(context.Background(), alerts); err == nil || len(failed) != 2 {
		t.Fatalf("Post to two dead Alertmanagers = %v, %v; want an error naming both", failed, err)
	}
}

// Package am posts alerts to Alertmanager through its API v2 client: to every configured
// Alertmanager of an HA pair (as Prometheus does, they deduplicate among themselves), with
// basic auth or a bearer token and TLS. A post succeeds when at least one Alertmanager took it;
// the alerter re-posts every active alert each resend interval, so one that was down catches up.
package am

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// Options configure the Alertmanager targets.
type Options struct {
	URLs              config.StringList
	BasicAuthUser     string
	BasicAuthPassFile string
	BearerTokenFile   string
	TLSCA             string
	TLSCert           string
	TLSKey            string
	TLSInsecure       bool
	Timeout           time.Duration
}

// AddFlags registers the Alertmanager flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.Var(&o.URLs, "alertmanager-url", "Alertmanager to post alerts to (its web root; repeatable for an HA pair); none: no alerts are posted")
	fs.StringVar(&o.BasicAuthUser, "alertmanager-user", "", "basic auth user name")
	fs.StringVar(&o.BasicAuthPassFile, "alertmanager-password-file", "", "file holding the basic auth password")
	fs.StringVar(&o.BearerTokenFile, "alertmanager-bearer-token-file", "", "file holding a bearer token (instead of basic auth)")
	fs.StringVar(&o.TLSCA, "alertmanager-tls-ca", "", "CA bundle to verify Alertmanager's certificate; empty = system roots")
	fs.StringVar(&o.TLSCert, "alertmanager-tls-cert", "", "client certificate for mutual TLS")
	fs.StringVar(&o.TLSKey, "alertmanager-tls-key", "", "client key for --alertmanager-tls-cert")
	fs.BoolVar(&o.TLSInsecure, "alertmanager-tls-insecure-skip-verify", false, "do not verify Alertmanager's certificate (testing only)")
	fs.DurationVar(&o.Timeout, "alertmanager-timeout", 10*time.Second, "timeout of one post")
}

// Enabled reports whether any Alertmanager is configured.
func (o Options) Enabled() bool { return len(o.URLs) > 0 }

// Validate checks the URLs and that the credential files can be read.
func (o Options) Validate() error {
	for _, u := range o.URLs {
		if _, err := parseURL(u); err != nil {
			return config.Invalid("alertmanager-url", u, "%v", err)
		}
	}
	if o.BasicAuthUser != "" && o.BearerTokenFile != "" {
		return config.Invalid("alertmanager-bearer-token-file", o.BearerTokenFile, "give either basic auth or a bearer token, not both")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return config.Invalid("alertmanager-tls-cert", o.TLSCert, "--alertmanager-tls-cert and --alertmanager-tls-key go together")
	}
	if o.Timeout <= 0 {
		return config.Invalid("alertmanager-timeout", o.Timeout, "must be positive")
	}
	_, err := o.transport()
	return err
}

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	return u, nil
}

func readSecret(flagName, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", config.Invalid(flagName, path, "cannot be read: %v", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// transport builds the HTTP client and the auth writer the options describe.
func (o Options) transport() (*transport, error) {
	tc := &tls.Config{InsecureSkipVerify: o.TLSInsecure} //nolint:gosec // only when asked for
	if o.TLSCA != "" {
		b, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return nil, config.Invalid("alertmanager-tls-ca", o.TLSCA, "cannot be read: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, config.Invalid("alertmanager-tls-ca", o.TLSCA, "holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, config.Invalid("alertmanager-tls-cert", o.TLSCert, "certificate and key (--alertmanager-tls-key %s) do not load: %v", o.TLSKey, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t := &transport{hc: &http.Client{Timeout: o.Timeout, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}}
	switch {
	case o.BasicAuthUser != "":
		pass := ""
		if o.BasicAuthPassFile != "" {
			p, err := readSecret("alertmanager-password-file", o.BasicAuthPassFile)
			if err != nil {
				return nil, err
			}
			pass = p
		}
		t.auth = httptransport.BasicAuth(o.BasicAuthUser, pass)
	case o.BearerTokenFile != "":
		tok, err := readSecret("alertmanager-bearer-token-file", o.BearerTokenFile)
		if err != nil {
			return nil, err
		}
		t.auth = httptransport.BearerToken(tok)
	}
	return t, nil
}

type transport struct {
	hc   *http.Client
	auth runtime.ClientAuthInfoWriter
}

// Client posts to every configured Alertmanager.
type Client struct {
	targets []target
}

type target struct {
	url string
	api *amclient.AlertmanagerAPI
}

// New returns a client for the options' Alertmanagers.
func New(o Options) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	t, err := o.transport()
	if err != nil {
		return nil, err
	}
	c := &Client{}
	for _, raw := range o.URLs {
		u, _ := parseURL(raw)
		// An Alertmanager behind --web.route-prefix serves its API below that prefix.
		base := path.Join("/", u.Path, amclient.DefaultBasePath)
		rt := httptransport.NewWithClient(u.Host, base, []string{u.Scheme}, t.hc)
		if t.auth != nil {
			rt.DefaultAuthentication = t.auth
		}
		c.targets = append(c.targets, target{url: raw, api: amclient.New(rt, strfmt.Default)})
	}
	return c, nil
}

// Post sends alerts to every Alertmanager at once, in one PostAlerts call each. It succeeds
// when at least one took them; the error names every one that failed.
func (c *Client) Post(ctx context.Context, alerts models.PostableAlerts) (failed []string, err error) {
	if len(alerts) == 0 || len(c.targets) == 0 {
		return nil, nil
	}
	errs := make([]error, len(c.targets))
	var wg sync.WaitGroup
	for i, t := range c.targets {
		wg.Go(func() {
			_, err := t.api.Alert.PostAlerts(alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(alerts))
			if err != nil {
				errs[i] = fmt.Errorf("post %d alerts to %s: %w", len(alerts), t.url, err)
			}
		})
	}
	wg.Wait()
	ok := 0
	for i, e := range errs {
		if e == nil {
			ok++
		} else {
			failed = append(failed, c.targets[i].url)
		}
	}
	if ok == 0 {
		return failed, errors.Join(errs...)
	}
	return failed, nil
}

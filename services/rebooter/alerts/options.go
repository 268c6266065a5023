package alerts

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// DefaultTimeout bounds one query to a source, so a hung server blocks (by error) instead of
// hanging the reboot loop.
const DefaultTimeout = 10 * time.Second

// Options configures the alert check; the flag names are kured's, plus --alertmanager-url and
// --alert-check-timeout.
type Options struct {
	PrometheusURL   string
	AlertmanagerURL string
	FilterRegexp    string
	FilterMatchOnly bool
	FiringOnly      bool
	Timeout         time.Duration
}

// AddFlags registers the alert flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.PrometheusURL, "prometheus-url", "", "Prometheus to ask for ALERTS before rebooting, as kured; empty means no Prometheus check")
	fs.StringVar(&o.AlertmanagerURL, "alertmanager-url", "", "Alertmanager (API v2) to ask for active, unsilenced, uninhibited alerts before rebooting; empty means no Alertmanager check")
	fs.StringVar(&o.FilterRegexp, "alert-filter-regexp", "", "alert names to ignore (kured's semantics); empty means every alert blocks")
	fs.BoolVar(&o.FilterMatchOnly, "alert-filter-match-only", false, "invert --alert-filter-regexp: only alerts whose names match it block")
	fs.BoolVar(&o.FiringOnly, "alert-firing-only", false, "with --prometheus-url, only firing alerts block, not pending ones (Alertmanager only has firing ones)")
	fs.DurationVar(&o.Timeout, "alert-check-timeout", DefaultTimeout, "how long one alert query may take before the check counts as failed (and blocks); 0 means the default")
}

// Validate checks the URLs and the regexp.
func (o *Options) Validate() error {
	for _, u := range []struct{ flag, value string }{
		{"prometheus-url", o.PrometheusURL},
		{"alertmanager-url", o.AlertmanagerURL},
	} {
		if u.value == "" {
			continue
		}
		if _, err := parseURL(u.value); err != nil {
			return config.Invalid(u.flag, u.value, "%v", err)
		}
	}
	if _, err := regexp.Compile(o.FilterRegexp); err != nil {
		return config.Invalid("alert-filter-regexp", o.FilterRegexp, "%v", err)
	}
	if o.Timeout < 0 {
		return config.Invalid("alert-check-timeout", o.Timeout, "must not be negative")
	}
	return nil
}

// Filter returns kured's filter for these options.
func (o *Options) Filter() (Filter, error) {
	if o.FilterRegexp == "" {
		return Filter{MatchOnly: o.FilterMatchOnly}, nil
	}
	re, err := regexp.Compile(o.FilterRegexp)
	if err != nil {
		return Filter{}, config.Invalid("alert-filter-regexp", o.FilterRegexp, "%v", err)
	}
	return Filter{Regexp: re, MatchOnly: o.FilterMatchOnly}, nil
}

// New builds the checker for o: Prometheus, Alertmanager, both (Multi), or nil when neither URL
// is set, which Check treats as never blocking.
func New(o Options) (Checker, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	f, err := o.Filter()
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hc := &http.Client{Timeout: timeout}
	var cs Multi
	if o.PrometheusURL != "" {
		p, err := NewPrometheus(o.PrometheusURL, f, o.FiringOnly, hc)
		if err != nil {
			return nil, err
		}
		cs = append(cs, p)
	}
	if o.AlertmanagerURL != "" {
		a, err := NewAlertmanager(o.AlertmanagerURL, f, hc)
		if err != nil {
			return nil, err
		}
		cs = append(cs, a)
	}
	switch len(cs) {
	case 0:
		return nil, nil
	case 1:
		return cs[0], nil
	default:
		return cs, nil
	}
}

// parseURL accepts absolute http and https URLs with a host.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", s)
	}
	return u, nil
}

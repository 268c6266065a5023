package alerts

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// Alertmanager checks an Alertmanager's active alerts through its API v2, asking the server to
// leave out silenced and inhibited ones, so an operator's silence unblocks a reboot. Alerts not
// yet processed by Alertmanager's pipeline are kept: whether they are silenced is not known yet,
// and not knowing blocks.
type Alertmanager struct {
	url    string
	api    *amclient.AlertmanagerAPI
	filter Filter
}

var _ Checker = (*Alertmanager)(nil)

// NewAlertmanager returns a checker for the Alertmanager at rawURL (its web root; the API is
// under /api/v2); hc nil means a client with DefaultTimeout.
func NewAlertmanager(rawURL string, f Filter, hc *http.Client) (*Alertmanager, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: %w", rawURL, err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	// An Alertmanager behind --web.route-prefix serves its API below that prefix.
	base := path.Join("/", u.Path, amclient.DefaultBasePath)
	tr := httptransport.NewWithClient(u.Host, base, []string{u.Scheme}, hc)
	return &Alertmanager{url: rawURL, api: amclient.New(tr, strfmt.Default), filter: f}, nil
}

// Blocking implements Checker.
func (a *Alertmanager) Blocking(ctx context.Context, ignore Ignore) ([]string, error) {
	yes, no := true, false
	params := alert.NewGetAlertsParamsWithContext(ctx).
		WithActive(&yes).
		WithUnprocessed(&yes).
		WithSilenced(&no).
		WithInhibited(&no)
	resp, err := a.api.Alert.GetAlerts(params)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: get alerts: %w", a.url, err)
	}
	now := time.Now()
	set := nameSet{}
	for _, al := range resp.GetPayload() {
		if al == nil || suppressed(al, now) {
			continue
		}
		name := al.Labels[LabelAlertName]
		if !a.filter.Blocks(name) {
			continue
		}
		if ignore != nil && ignore(al.Labels) {
			continue
		}
		set[name] = struct{}{}
	}
	return set.sorted(), nil
}

// suppressed double-checks what the server was asked to filter, so an Alertmanager that ignores
// a query parameter cannot make a silenced alert block, and drops alerts already resolved.
func suppressed(al *models.GettableAlert, now time.Time) bool {
	if al.EndsAt != nil && !time.Time(*al.EndsAt).IsZero() && time.Time(*al.EndsAt).Before(now) {
		return true
	}
	// Only silences and inhibitions say "this alert may be ignored"; an alert muted by a time
	// interval is still real, it just notifies nobody tonight, so it keeps blocking.
	st := al.Status
	return st != nil && (len(st.SilencedBy) > 0 || len(st.InhibitedBy) > 0)
}

package alerts

import (
	"context"
	"fmt"
	"net/http"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus checks the ALERTS series of a Prometheus server, as kured does: every series with
// an alertname and a non-zero value is an active alert, pending or firing (only firing with
// FiringOnly), and its name blocks unless the filter or the caller's Ignore drops it.
type Prometheus struct {
	url        string
	api        promv1.API
	filter     Filter
	firingOnly bool
}

var _ Checker = (*Prometheus)(nil)

// NewPrometheus returns a checker for the Prometheus at rawURL; hc nil means a client with
// DefaultTimeout.
func NewPrometheus(rawURL string, f Filter, firingOnly bool, hc *http.Client) (*Prometheus, error) {
	if _, err := parseURL(rawURL); err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", rawURL, err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	c, err := promapi.NewClient(promapi.Config{Address: rawURL, Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: client: %w", rawURL, err)
	}
	return &Prometheus{url: rawURL, api: promv1.NewAPI(c), filter: f, firingOnly: firingOnly}, nil
}

// Blocking implements Checker.
func (p *Prometheus) Blocking(ctx context.Context, ignore Ignore) ([]string, error) {
	v, _, _, err := p.api.Query(ctx, "ALERTS", time.Now())
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: query ALERTS: %w", p.url, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus %s: query ALERTS: result type %s, want vector", p.url, v.Type())
	}
	set := nameSet{}
	for _, s := range vec {
		name, isAlert := s.Metric[model.AlertNameLabel]
		if !isAlert || s.Value == 0 {
			continue
		}
		if p.firingOnly && s.Metric[alertStateLabel] != "firing" {
			continue
		}
		if !p.filter.Blocks(string(name)) {
			continue
		}
		if ignore != nil && ignore(labelMap(s.Metric)) {
			continue
		}
		set[string(name)] = struct{}{}
	}
	return set.sorted(), nil
}

func labelMap(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

// alertStateLabel is the ALERTS label that says pending or firing.
const alertStateLabel model.LabelName = "alertstate"

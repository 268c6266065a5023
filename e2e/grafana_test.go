package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// What Grafana does to an InfluxQL panel query before it sends it, reimplemented for the
// dashboard test (Grafana itself cannot be installed here): the time filter and interval
// macros, and template variables with the InfluxDB datasource's regex formatting.

// grafanaDashboard is the part of a dashboard's JSON model the test needs.
type grafanaDashboard struct {
	UID        string                    `json:"uid"`
	Title      string                    `json:"title"`
	Time       struct{ From, To string } `json:"time"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaVariable struct {
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Datasource grafanaDatasourceRef `json:"datasource"`
	Query      string               `json:"query"`
	Multi      bool                 `json:"multi"`
	IncludeAll bool                 `json:"includeAll"`
	AllValue   string               `json:"allValue"`
}

type grafanaPanel struct {
	ID            int                  `json:"id"`
	Type          string               `json:"type"`
	Title         string               `json:"title"`
	Datasource    grafanaDatasourceRef `json:"datasource"`
	Interval      string               `json:"interval"`
	MaxDataPoints int                  `json:"maxDataPoints"`
	GridPos       struct{ W int }      `json:"gridPos"`
	Targets       []grafanaTarget      `json:"targets"`
	Panels        []grafanaPanel       `json:"panels"` // a collapsed row's panels
}

type grafanaTarget struct {
	RefID      string               `json:"refId"`
	Datasource grafanaDatasourceRef `json:"datasource"`
	RawQuery   bool                 `json:"rawQuery"`
	Query      string               `json:"query"`
}

// loadDashboards reads every *.json in dir.
func loadDashboards(dir string) (map[string]grafanaDashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	out := make(map[string]grafanaDashboard, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read dashboard: %w", err)
		}
		var d grafanaDashboard
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("decode dashboard %s: %w", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = d
	}
	return out, nil
}

// allPanels flattens rows.
func (d grafanaDashboard) allPanels() []grafanaPanel {
	var out []grafanaPanel
	for _, p := range d.Panels {
		if p.Type == "row" {
			out = append(out, p.Panels...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// grafanaRange is a dashboard's time range, resolved against now.
type grafanaRange struct {
	rawFrom, rawTo string
	from, to       time.Time
}

var relativeTime = regexp.MustCompile(`^now-(\d+)([smhd])$`)

// resolveRange understands "now" and "now-<n><s|m|h|d>", the forms Grafana turns into
// now()-relative InfluxQL.
func resolveRange(from, to string, now time.Time) (grafanaRange, error) {
	at := func(s string) (time.Time, error) {
		if s == "now" {
			return now, nil
		}
		m := relativeTime.FindStringSubmatch(s)
		if m == nil {
			return time.Time{}, fmt.Errorf("time %q: only now and now-<n><unit> are supported", s)
		}
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
		return now.Add(-time.Duration(n) * unit), nil
	}
	f, err := at(from)
	if err != nil {
		return grafanaRange{}, err
	}
	t, err := at(to)
	if err != nil {
		return grafanaRange{}, err
	}
	return grafanaRange{rawFrom: from, rawTo: to, from: f, to: t}, nil
}

// timeFilter is what Grafana's InfluxDB datasource puts for $timeFilter (getTimeFilter).
func (r grafanaRange) timeFilter() string {
	influxTime := func(raw string, t time.Time) string {
		if raw == "now" {
			return "now()"
		}
		if m := relativeTime.FindStringSubmatch(raw); m != nil {
			return "now() - " + m[1] + m[2]
		}
		return strconv.FormatInt(t.UnixMilli(), 10) + "ms"
	}
	return "time >= " + influxTime(r.rawFrom, r.from) + " and time <= " + influxTime(r.rawTo, r.to)
}

// panelInterval is Grafana's calculateInterval: the range over the panel's data points
// (its width in pixels unless maxDataPoints is set), rounded by roundInterval, and no less
// than the panel's min interval or else the datasource's timeInterval.
func panelInterval(r grafanaRange, p grafanaPanel, dsMin time.Duration) (time.Duration, error) {
	points := p.MaxDataPoints
	if points == 0 {
		points = max(p.GridPos.W, 1) * 80 // px per grid column on a 1920 px screen
	}
	iv := roundInterval(r.to.Sub(r.from) / time.Duration(points))
	low := dsMin
	if p.Interval != "" {
		d, err := time.ParseDuration(p.Interval)
		if err != nil {
			return 0, fmt.Errorf("panel interval %q: %w", p.Interval, err)
		}
		low = d
	}
	return max(iv, low), nil
}

// roundInterval is Grafana's rangeutil.roundInterval (limits in ms).
func roundInterval(d time.Duration) time.Duration {
	steps := []struct{ below, to int64 }{
		{15, 10}, {35, 20}, {75, 50}, {150, 100}, {350, 200}, {750, 500}, {1500, 1000},
		{3500, 2000}, {7500, 5000}, {12500, 10000}, {17500, 15000}, {25000, 20000},
		{45000, 30000}, {90000, 60000}, {210000, 120000}, {450000, 300000}, {750000, 600000},
		{1050000, 900000}, {1500000, 1200000}, {2700000, 1800000}, {5400000, 3600000},
		{9000000, 7200000}, {16200000, 10800000}, {32400000, 21600000}, {86400000, 43200000},
		{604800000, 86400000}, {1814400000, 604800000}, {3628800000, 2592000000},
	}
	ms := d.Milliseconds()
	for _, s := range steps {
		if ms < s.below {
			return time.Duration(s.to) * time.Millisecond
		}
	}
	return 365 * 24 * time.Hour
}

// hms is Grafana's secondsToHms for the intervals roundInterval yields: "10s", "1m", "500ms".
func hms(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d%time.Second == 0:
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// macros are the built-in variables of one panel query.
func macros(r grafanaRange, interval time.Duration) map[string]string {
	rng := r.to.Sub(r.from)
	return map[string]string{
		"timeFilter":    r.timeFilter(),
		"__timeFilter":  r.timeFilter(),
		"__interval":    hms(interval),
		"interval":      hms(interval),
		"__interval_ms": strconv.FormatInt(interval.Milliseconds(), 10),
		"__from":        strconv.FormatInt(r.from.UnixMilli(), 10),
		"__to":          strconv.FormatInt(r.to.UnixMilli(), 10),
		"__range":       hms(rng.Round(time.Second)),
		"__range_s":     strconv.FormatInt(int64(rng/time.Second), 10),
		"__range_ms":    strconv.FormatInt(rng.Milliseconds(), 10),
	}
}

// influxQL runs one query against InfluxDB's /query API and returns errors instead of
// failing the test, so that the test can also check that bad queries are caught.
type influxQL struct {
	url, db string
	client  *http.Client
}

func (q influxQL) run(ctx context.Context, stmt string) ([]testenv.InfluxSeries, error) {
	form := url.Values{"q": {stmt}, "db": {q.db}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("build query request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post /query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read /query response: %w", err)
	}
	var out struct {
		Results []struct {
			Series []testenv.InfluxSeries `json:"series"`
			Error  string                 `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("status %d, decode %q: %w", resp.StatusCode, body, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influxdb: %s", out.Error)
	}
	var series []testenv.InfluxSeries
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxdb: %s", r.Error)
		}
		series = append(series, r.Series...)
	}
	return series, nil
}

// resolveVariables runs each query variable's own query, in dashboard order so that later
// ones see earlier ones, and picks All (every value) or only the first value.
func resolveVariables(ctx context.Context, q influxQL, d grafanaDashboard, all bool) (map[string]varValue, error) {
	vars := map[string]varValue{}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			return nil, fmt.Errorf("variable %s: type %q not supported", v.Name, v.Type)
		}
		stmt, err := interpolate(v.Query, nil, vars)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		series, err := q.run(ctx, stmt)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %s: %w", v.Name, stmt, err)
		}
		var values []string
		for _, s := range series {
			for _, row := range s.Values {
				if len(row) == 2 { // SHOW TAG VALUES: key, value
					values = append(values, fmt.Sprint(row[1]))
				}
			}
		}
		sort.Strings(values)
		if len(values) == 0 {
			return nil, fmt.Errorf("variable %s: %s returned no values", v.Name, stmt)
		}
		if !all || !v.IncludeAll {
			values = values[:1]
		} else if v.AllValue != "" {
			return nil, fmt.Errorf("variable %s: custom allValue not supported", v.Name)
		}
		vars[v.Name] = varValue{v: v, values: values}
	}
	return vars, nil
}

// checkResult wants at least one series, every series with the columns time + aliases, and
// each alias with at least one value that is not null, zero or empty: a misspelt field
// comes back as a null column, and a derivative of a constant as zeros.
func checkResult(series []testenv.InfluxSeries, aliases []string) error {
	if len(series) == 0 {
		return errors.New("no series")
	}
	want := append([]string{"time"}, aliases...)
	seen := make([]bool, len(aliases))
	for _, s := range series {
		if strings.Join(s.Columns, ",") != strings.Join(want, ",") {
			return fmt.Errorf("series %s %v: columns %q, want %q", s.Name, s.Tags, s.Columns, want)
		}
		for _, row := range s.Values {
			for i := range aliases {
				seen[i] = seen[i] || meaningful(row[i+1])
			}
		}
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("column %q is null, zero or empty in all %d series", aliases[i], len(series))
		}
	}
	return nil
}

func meaningful(v any) bool {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return err == nil && f != 0 && !math.IsNaN(f)
	case string:
		return v != ""
	case bool:
		return true
	}
	return false
}

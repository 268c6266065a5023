package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"sigs.k8s.io/yaml"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/sink/influx"
)

const grafanaDir = "../deploy/grafana"

// TestDashboardQueries runs every panel query of every dashboard in deploy/grafana against a
// real InfluxDB holding a simulated load written through the sink's own point conversion,
// once with every variable on All and once narrowed to the first value of each.
func TestDashboardQueries(t *testing.T) {
	dsUID, dsMin := provisionedDatasource(t)
	dashes, err := loadDashboards(filepath.Join(grafanaDir, "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dashes) < 2 {
		t.Fatalf("found %d dashboards in %s, want the cluster and node dashboards", len(dashes), grafanaDir)
	}
	q := startLoadedInflux(t)
	ctx := context.Background()
	now := time.Now()

	for _, name := range sortedKeys(dashes) {
		d := dashes[name]
		rng, err := resolveRange(d.Time.From, d.Time.To, now)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, v := range d.Templating.List {
			if v.Datasource.UID != dsUID {
				t.Errorf("%s: variable %s uses datasource %q, want %q", name, v.Name, v.Datasource.UID, dsUID)
			}
		}
		selections := map[string]map[string]varValue{}
		for _, sel := range []string{"all", "first"} {
			vars, err := resolveVariables(ctx, q, d, sel == "all")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			selections[sel] = vars
		}
		for _, p := range d.allPanels() {
			t.Run(name+"/"+p.Title, func(t *testing.T) {
				if err := checkPanelShape(p, dsUID); err != nil {
					t.Fatal(err)
				}
				for _, sel := range []string{"all", "first"} {
					t.Run(sel, func(t *testing.T) {
						results, err := runPanel(ctx, q, p, rng, dsMin, selections[sel])
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range results {
							t.Logf("%s\n  %d series, first %v %v", r.query, len(r.series), r.series[0].Tags, lastRow(r.series[0]))
						}
						want, ok := loadStats[p.Title]
						if sel != "all" || name != "nodewarden-cluster" || !ok {
							return
						}
						if got := statValue(results[0].series); got != want {
							t.Errorf("stat = %v, want %v", got, want)
						}
					})
				}
			})
		}
	}
}

// TestDashboardChecksCatchBadQueries makes sure the checks of TestDashboardQueries fail a
// panel whose query is wrong, against the same load.
func TestDashboardChecksCatchBadQueries(t *testing.T) {
	q := startLoadedInflux(t)
	ctx := context.Background()
	d := grafanaDashboard{}
	d.Templating.List = []grafanaVariable{
		{Name: "node", Type: "query", Query: `SHOW TAG VALUES FROM "node" WITH KEY = "node"`, Multi: true, IncludeAll: true},
	}
	vars, err := resolveVariables(ctx, q, d, true)
	if err != nil {
		t.Fatal(err)
	}
	rng, err := resolveRange("now-1h", "now", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const where = `WHERE $timeFilter AND "node" =~ /^$node$/ GROUP BY time($__interval), "node" fill(null)`
	for _, tc := range []struct {
		name, query, wantErr string
	}{
		{"good", `SELECT non_negative_derivative(mean("cpu_user_seconds"), 1s) AS "user" FROM "node" ` + where, ""},
		{"misspelt field", `SELECT non_negative_derivative(mean("cpu_user_secs"), 1s) AS "user" FROM "node" ` + where, "no series"},
		{"one of two fields misspelt", `SELECT mean("load1") AS "load1", mean("load_1") AS "load" FROM "node" ` + where, `column "load"`},
		{"wrong measurement", `SELECT mean("load1") AS "load1" FROM "nodes" ` + where, "no series"},
		{"tag that does not exist", `SELECT mean("load1") AS "load1" FROM "node" WHERE $timeFilter AND "host" =~ /^$node$/`, "no series"},
		{"rate of a constant", `SELECT non_negative_derivative(mean("cpu_cores"), 1s) AS "cores" FROM "node" ` + where, "null, zero or empty"},
		{"no alias", `SELECT mean("load1") FROM "node" ` + where, "no AS"},
		{"unknown variable", `SELECT mean("load1") AS "load1" FROM "node" WHERE $timeFilter AND "node" =~ /^$host$/`, "unknown variable"},
		{"syntax error", `SELECT mean("load1") AS "load1" FROM "node" WHERE $timeFilter GROUP time($__interval)`, "influxdb:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := grafanaPanel{Title: tc.name, Type: "timeseries", Interval: "10s",
				Targets: []grafanaTarget{{RefID: "A", RawQuery: true, Query: tc.query}}}
			_, err := runPanel(ctx, q, p, rng, 10*time.Second, vars)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("good query failed: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// targetResult is the expanded query of one target and what it returned.
type targetResult struct {
	query  string
	series []testenv.InfluxSeries
}

// runPanel expands and runs each target of p and checks its result.
func runPanel(ctx context.Context, q influxQL, p grafanaPanel, rng grafanaRange, dsMin time.Duration,
	vars map[string]varValue) ([]targetResult, error) {
	interval, err := panelInterval(rng, p, dsMin)
	if err != nil {
		return nil, err
	}
	builtins := macros(rng, interval)
	var out []targetResult
	for _, tg := range p.Targets {
		stmt, err := interpolate(tg.Query, builtins, vars)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tg.RefID, err)
		}
		aliases, err := selectAliases(stmt)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tg.RefID, err)
		}
		series, err := q.run(ctx, stmt)
		if err == nil {
			err = checkResult(series, aliases)
		}
		if err != nil {
			return nil, fmt.Errorf("target %s: %s: %w", tg.RefID, stmt, err)
		}
		out = append(out, targetResult{stmt, series})
	}
	return out, nil
}

// checkPanelShape wants the panel on the provisioned datasource with raw InfluxQL targets.
func checkPanelShape(p grafanaPanel, dsUID string) error {
	var errs []error
	if !slices.Contains([]string{"timeseries", "stat", "table"}, p.Type) {
		errs = append(errs, fmt.Errorf("panel type %q", p.Type))
	}
	if p.Datasource.UID != dsUID || p.Datasource.Type != "influxdb" {
		errs = append(errs, fmt.Errorf("panel datasource %+v, want influxdb %q", p.Datasource, dsUID))
	}
	if len(p.Targets) == 0 {
		errs = append(errs, errors.New("no targets"))
	}
	for _, tg := range p.Targets {
		if !tg.RawQuery || tg.Query == "" {
			errs = append(errs, fmt.Errorf("target %s is not a raw InfluxQL query", tg.RefID))
		}
		if tg.Datasource.UID != "" && tg.Datasource.UID != dsUID {
			errs = append(errs, fmt.Errorf("target %s datasource %q, want %q", tg.RefID, tg.Datasource.UID, dsUID))
		}
	}
	return errors.Join(errs...)
}

// lastRow is the last row of s with a value, for the log.
func lastRow(s testenv.InfluxSeries) []any {
	for i := len(s.Values) - 1; i >= 0; i-- {
		if slices.ContainsFunc(s.Values[i][1:], meaningful) {
			return s.Values[i]
		}
	}
	return nil
}

// statValue is the first value of the first series, as a stat panel with one number shows.
func statValue(series []testenv.InfluxSeries) float64 {
	if len(series) == 0 || len(series[0].Values) == 0 || len(series[0].Values[0]) < 2 {
		return -1
	}
	n, ok := series[0].Values[0][1].(json.Number)
	if !ok {
		return -1
	}
	f, err := n.Float64()
	if err != nil {
		return -1
	}
	return f
}

// provisionedDatasource reads the datasource and dashboard provisioning files, checks them
// against what the test runs, and returns the datasource uid and min interval.
func provisionedDatasource(t *testing.T) (string, time.Duration) {
	t.Helper()
	var ds struct {
		Datasources []struct {
			UID, Type, URL, Database string
			JSONData                 struct {
				TimeInterval string `json:"timeInterval"`
			} `json:"jsonData"`
		}
	}
	readYAML(t, filepath.Join(grafanaDir, "provisioning", "datasources", "influxdb.yaml"), &ds)
	if len(ds.Datasources) != 1 {
		t.Fatalf("want one provisioned datasource, got %d", len(ds.Datasources))
	}
	d := ds.Datasources[0]
	if d.Type != "influxdb" || d.Database != testenv.InfluxDatabase || d.UID == "" {
		t.Fatalf("provisioned datasource %+v: want type influxdb, database %s and a uid", d, testenv.InfluxDatabase)
	}
	minInterval, err := time.ParseDuration(d.JSONData.TimeInterval)
	if err != nil {
		t.Fatalf("datasource timeInterval: %v", err)
	}
	var prov struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	readYAML(t, filepath.Join(grafanaDir, "provisioning", "dashboards", "nodewarden.yaml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard provider %+v: want one file provider with a path", prov.Providers)
	}
	return d.UID, minInterval
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

// startLoadedInflux starts InfluxDB, writes the simulated load converted by influx.Points
// (what the sink writes) and waits until all of it is queryable.
func startLoadedInflux(t *testing.T) influxQL {
	t.Helper()
	in := testenv.StartInflux(t)
	var points []*write.Point
	nodeSamples := 0
	for _, m := range loadMessages(time.Now().Truncate(loadStep)) {
		pts, err := influx.Points(m)
		if err != nil {
			t.Fatalf("convert %T: %v", m, err)
		}
		points = append(points, pts...)
		if _, ok := m.(*nwv1.NodeSample); ok {
			nodeSamples++
		}
	}
	client := influxdb2.NewClient(in.URL, "")
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.WriteAPIBlocking("", in.Bucket).WritePoint(ctx, points...); err != nil {
		t.Fatalf("write %d points: %v", len(points), err)
	}
	testenv.WaitFor(t, 10*time.Second, "the load to be queryable", func() bool {
		s := in.Query(t, `SELECT count("uptime_seconds") FROM "node"`)
		return len(s) == 1 && len(s[0].Values) == 1 && fmt.Sprint(s[0].Values[0][1]) == fmt.Sprint(nodeSamples)
	})
	t.Logf("loaded %d points", len(points))
	return influxQL{url: in.URL, db: in.Database, client: &http.Client{Timeout: 10 * time.Second}}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package e2e

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Grafana's template variables and the select list of a panel query: what the query is
// expanded to, and which columns its result must have.

// varValue is a template variable's current value: one value, or several for a multi-value
// variable or its All option.
type varValue struct {
	v      grafanaVariable
	values []string
}

// regexEscape is Grafana's escapeRegex.
var regexSpecial = regexp.MustCompile(`[\\^$*+?.()|\[\]{}/]`)

func regexEscape(s string) string { return regexSpecial.ReplaceAllString(s, `\$0`) }

// format renders the value as the InfluxDB datasource's interpolateQueryExpr does, or with
// an explicit ${var:format}.
func (vv varValue) format(format string) (string, error) {
	quoted := func(q string) string {
		out := make([]string, len(vv.values))
		for i, s := range vv.values {
			out[i] = q + strings.ReplaceAll(s, q, `\`+q) + q
		}
		return strings.Join(out, ",")
	}
	switch format {
	case "":
		// A single-value variable without All is not escaped.
		if !vv.v.Multi && !vv.v.IncludeAll {
			return strings.Join(vv.values, ","), nil
		}
		fallthrough
	case "regex":
		esc := make([]string, len(vv.values))
		for i, s := range vv.values {
			esc[i] = regexEscape(s)
		}
		return "(" + strings.Join(esc, "|") + ")", nil
	case "raw", "csv":
		return strings.Join(vv.values, ","), nil
	case "pipe":
		return strings.Join(vv.values, "|"), nil
	case "singlequote":
		return quoted("'"), nil
	case "doublequote":
		return quoted(`"`), nil
	}
	return "", fmt.Errorf("variable %s: unsupported format %q", vv.v.Name, format)
}

// varRef matches $var, ${var}, ${var:format} and [[var]].
var varRef = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]`)

// interpolate replaces macros and variables; any reference it cannot resolve is an error,
// where Grafana would leave it in place and let InfluxDB fail or, worse, match nothing.
func interpolate(query string, builtins map[string]string, vars map[string]varValue) (string, error) {
	var errs []error
	out := varRef.ReplaceAllStringFunc(query, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name, format := m[1]+m[2]+m[4], m[3]
		if s, ok := builtins[name]; ok && format == "" {
			return s
		}
		vv, ok := vars[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown variable %s", ref))
			return ref
		}
		s, err := vv.format(format)
		if err != nil {
			errs = append(errs, err)
		}
		return s
	})
	return out, errors.Join(errs...)
}

// selectAliases returns the AS names of the outermost SELECT's expressions, which are the
// columns a result has after time. Every expression must have one: the panel's legends and
// field overrides depend on them, and the test on knowing what to expect.
func selectAliases(query string) ([]string, error) {
	var items []string
	depth, start, inQuote := 0, -1, byte(0)
	upper := strings.ToUpper(query)
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case inQuote != 0:
			if c == '\\' {
				i++
			} else if c == inQuote {
				inQuote = 0
			}
		case c == '"' || c == '\'':
			inQuote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && start < 0 && strings.HasPrefix(upper[i:], "SELECT "):
			start = i + len("SELECT ")
			i = start - 1
		case depth == 0 && start >= 0 && c == ',':
			items = append(items, query[start:i])
			start = i + 1
		case depth == 0 && start >= 0 && strings.HasPrefix(upper[i:], " FROM "):
			items = append(items, query[start:i])
			return aliasesOf(items)
		}
	}
	return nil, fmt.Errorf("no SELECT ... FROM in %q", query)
}

var asAlias = regexp.MustCompile(`(?i)\sAS\s+"([^"]+)"\s*$`)

func aliasesOf(items []string) ([]string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		m := asAlias.FindStringSubmatch(it)
		if m == nil {
			return nil, fmt.Errorf("select expression %q has no AS \"alias\"", strings.TrimSpace(it))
		}
		out[i] = m[1]
	}
	return out, nil
}

// TestDashboardInterpolate checks the expansion against what Grafana's InfluxDB datasource
// sends for the same query and selection.
func TestDashboardInterpolate(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rng, err := resolveRange("now-1h", "now", now)
	if err != nil {
		t.Fatal(err)
	}
	builtins := macros(rng, 10*time.Second)
	multi := grafanaVariable{Name: "node", Multi: true, IncludeAll: true}
	vars := map[string]varValue{
		"node":  {v: multi, values: []string{"a.example", "b/c"}},
		"one":   {v: multi, values: []string{"n1"}},
		"plain": {v: grafanaVariable{Name: "plain"}, values: []string{"n.1"}},
	}
	for _, tc := range []struct{ name, in, want, wantErr string }{
		{"time filter", `WHERE $timeFilter`, `WHERE time >= now() - 1h and time <= now()`, ""},
		{"interval macros", `time($__interval) $interval $__interval_ms`, `time(10s) 10s 10000`, ""},
		{"range macros", `$__from $__to $__range_s`, "1777633200000 1777636800000 3600", ""},
		{"multi-value regex", `"node" =~ /^$node$/`, `"node" =~ /^(a\.example|b\/c)$/`, ""},
		{"one value of a multi-value variable", `/^$one$/`, `/^(n1)$/`, ""},
		{"single-value variable is not escaped", `/^$plain$/`, `/^n.1$/`, ""},
		{"braces and brackets", `${node} [[one]]`, `(a\.example|b\/c) (n1)`, ""},
		{"explicit formats", `${node:pipe} ${node:csv} ${node:singlequote}`, `a.example|b/c a.example,b/c 'a.example','b/c'`, ""},
		{"unknown variable", `/^$host$/`, "", "unknown variable $host"},
		{"unknown format", `${node:percentencode}`, "", "unsupported format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := interpolate(tc.in, builtins, vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("interpolate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDashboardSelectAliases(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		want        []string
		wantErr     bool
	}{
		{"two fields", `SELECT mean("a") AS "x", last("b") AS "y" FROM "m" WHERE "t" = 'a, b'`, []string{"x", "y"}, false},
		{"math across calls", `SELECT 100 * derivative(mean("a"), 1s) / derivative(mean("b"), 1s) AS "pct" FROM "m"`, []string{"pct"}, false},
		{"subquery", `SELECT count("n") AS "nodes" FROM (SELECT last("a") AS "n", "b" FROM "m" GROUP BY "node")`, []string{"nodes"}, false},
		{"missing alias", `SELECT mean("a") AS "x", mean("b") FROM "m"`, nil, true},
		{"not a select", `SHOW MEASUREMENTS`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectAliases(tc.query)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Fatalf("selectAliases = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestDashboardPanelInterval(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		from     string
		panel    grafanaPanel
		dsMin    time.Duration
		want     time.Duration
		wantText string
	}{
		{"datasource minimum wins", "now-1h", grafanaPanel{GridPos: struct{ W int }{12}}, 10 * time.Second, 10 * time.Second, "10s"},
		{"panel minimum wins", "now-1h", grafanaPanel{Interval: "1m", GridPos: struct{ W int }{12}}, 10 * time.Second, time.Minute, "1m"},
		{"long range rounds", "now-7d", grafanaPanel{MaxDataPoints: 1000}, 10 * time.Second, 10 * time.Minute, "10m"},
		{"short range", "now-5m", grafanaPanel{MaxDataPoints: 1000}, 0, 200 * time.Millisecond, "200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng, err := resolveRange(tc.from, "now", now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := panelInterval(rng, tc.panel, tc.dsMin)
			if err != nil || got != tc.want || hms(got) != tc.wantText {
				t.Fatalf("panelInterval = %v (%s), %v; want %v (%s)", got, hms(got), err, tc.want, tc.wantText)
			}
		})
	}
}

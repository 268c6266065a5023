package alerts

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// TestPrometheusRealServer runs kured's ALERTS check against a real Prometheus loading
// testdata/rules.yml: DiskFull, Watchdog and KernelDeadlock{node="node-a"} fire, SlowDisk is
// pending.
func TestPrometheusRealServer(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		ScrapeInterval: 500 * time.Millisecond,
		RuleFiles:      []string{"testdata/rules.yml"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.WaitQuery(ctx, `ALERTS`, func(s []testenv.PromSample) bool { return len(s) == 4 }); err != nil {
		t.Fatalf("wait for the four test alerts: %v", err)
	}

	watchdog := regexp.MustCompile(`^Watchdog$`)
	tests := []struct {
		name       string
		filter     Filter
		firingOnly bool
		ignore     Ignore
		want       []string
	}{
		{name: "no filter: firing and pending block",
			want: []string{"DiskFull", "KernelDeadlock", "SlowDisk", "Watchdog"}},
		{name: "filter ignores Watchdog", filter: Filter{Regexp: watchdog},
			want: []string{"DiskFull", "KernelDeadlock", "SlowDisk"}},
		{name: "firing only drops pending", filter: Filter{Regexp: watchdog}, firingOnly: true,
			want: []string{"DiskFull", "KernelDeadlock"}},
		{name: "match-only: only Watchdog blocks", filter: Filter{Regexp: watchdog, MatchOnly: true},
			want: []string{"Watchdog"}},
		{name: "self alert ignored", filter: Filter{Regexp: watchdog}, ignore: SelfAlert("KernelDeadlock", "node-a"),
			want: []string{"DiskFull", "SlowDisk"}},
		{name: "another node's condition still blocks", filter: Filter{Regexp: watchdog}, ignore: SelfAlert("KernelDeadlock", "node-b"),
			want: []string{"DiskFull", "KernelDeadlock", "SlowDisk"}},
		{name: "match-only with nothing matching", filter: Filter{Regexp: regexp.MustCompile(`^NoSuchAlert$`), MatchOnly: true},
			want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewPrometheus(p.URL, tt.filter, tt.firingOnly, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Blocking(ctx, tt.ignore)
			if err != nil {
				t.Fatalf("Blocking: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Blocking = %q, want %q", got, tt.want)
			}
			blocked, reasons := Check(ctx, c, tt.ignore)
			if blocked != (len(tt.want) > 0) || !slices.Equal(reasons, tt.want) {
				t.Errorf("Check = %v, %q; want blocked by %q", blocked, reasons, tt.want)
			}
		})
	}
}

// TestPrometheusZeroAndForeignSamples covers what a real Prometheus never sends but kured
// guards against: a zero value and a series without alertname do not block.
func TestPrometheusZeroAndForeignSamples(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.FormValue("query") != "ALERTS" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[
			{"metric":{"__name__":"ALERTS","alertname":"Zero","alertstate":"firing"},"value":[1700000000,"0"]},
			{"metric":{"__name__":"ALERTS","alertstate":"firing"},"value":[1700000000,"1"]},
			{"metric":{"__name__":"ALERTS","alertname":"Real","alertstate":"firing","node":"n1"},"value":[1700000000,"1"]},
			{"metric":{"__name__":"ALERTS","alertname":"Real","alertstate":"firing","node":"n2"},"value":[1700000000,"1"]}]}}`))
	}))
	defer srv.Close()
	c, err := NewPrometheus(srv.URL, Filter{}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Blocking(context.Background(), nil)
	if err != nil || !slices.Equal(got, []string{"Real"}) {
		t.Fatalf("Blocking = %q, %v; want [Real] once", got, err)
	}
	// Ignoring the alert on one node leaves the other blocking.
	got, err = c.Blocking(context.Background(), SelfAlert("Real", "n1"))
	if err != nil || !slices.Equal(got, []string{"Real"}) {
		t.Fatalf("Blocking ignoring Real on n1 = %q, %v; want [Real] (n2's)", got, err)
	}
}

func TestPrometheusFailuresBlock(t *testing.T) {
	// Prometheus answers a failed query with 422 and a JSON error, an overloaded one with 503
	// (whose body the client does not read).
	failed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"execution","error":"tsdb on fire"}`))
	}))
	defer failed.Close()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	scalar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}`))
	}))
	defer scalar.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release) // before Close, which waits for the handler

	tests := []struct {
		name string
		url  string
		want string // in the reason
	}{
		{"unreachable", closedURL(t), "connection refused"},
		{"query failed", failed.URL, "tsdb on fire"},
		{"unavailable", unavailable.URL, "503"},
		{"not a vector", scalar.URL, "want vector"},
		{"hangs past the timeout", hang.URL, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewPrometheus(tt.url, Filter{}, false, &http.Client{Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			blocked, reasons := Check(context.Background(), c, nil)
			if !blocked || len(reasons) != 1 || !strings.Contains(reasons[0], tt.want) || !strings.Contains(reasons[0], tt.url) {
				t.Fatalf("Check = %v, %q; want blocked with a reason naming %s and %q", blocked, reasons, tt.url, tt.want)
			}
		})
	}
}

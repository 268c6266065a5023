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

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// TestAlertmanagerRealServer posts alerts to a real Alertmanager and checks the filter, the
// self alert and that a silence unblocks.
func TestAlertmanagerRealServer(t *testing.T) {
	t.Parallel()
	am := testenv.StartAlertmanager(t)
	api := am.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ends := strfmt.DateTime(time.Now().Add(time.Hour))
	post := models.PostableAlerts{}
	for _, l := range []models.LabelSet{
		{"alertname": "DiskFull", "node": "node-a"},
		{"alertname": "Watchdog"},
		{"alertname": "KernelDeadlock", "node": "node-a"}, // what our alerter raises for node-a
	} {
		post = append(post, &models.PostableAlert{Alert: models.Alert{Labels: l}, EndsAt: ends})
	}
	if _, err := api.Alert.PostAlerts(alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(post)); err != nil {
		t.Fatalf("post alerts: %v", err)
	}
	testenv.WaitFor(t, 20*time.Second, "the three posted alerts to be listed", func() bool {
		resp, err := api.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx))
		return err == nil && len(resp.Payload) == 3
	})

	watchdog := regexp.MustCompile(`^Watchdog$`)
	self := SelfAlert("KernelDeadlock", "node-a")
	tests := []struct {
		name   string
		filter Filter
		ignore Ignore
		want   []string
	}{
		{name: "no filter", want: []string{"DiskFull", "KernelDeadlock", "Watchdog"}},
		{name: "ignored by the filter", filter: Filter{Regexp: watchdog}, want: []string{"DiskFull", "KernelDeadlock"}},
		{name: "self alert ignored", filter: Filter{Regexp: watchdog}, ignore: self, want: []string{"DiskFull"}},
		{name: "another node's reboot is blocked by it", filter: Filter{Regexp: watchdog}, ignore: SelfAlert("KernelDeadlock", "node-b"),
			want: []string{"DiskFull", "KernelDeadlock"}},
		{name: "match-only", filter: Filter{Regexp: watchdog, MatchOnly: true}, ignore: self, want: []string{"Watchdog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewAlertmanager(am.URL, tt.filter, nil)
			if err != nil {
				t.Fatal(err)
			}
			blocked, reasons := Check(ctx, c, tt.ignore)
			if !blocked || !slices.Equal(reasons, tt.want) {
				t.Errorf("Check = %v, %q; want blocked by %q", blocked, reasons, tt.want)
			}
		})
	}

	// An operator silences DiskFull: the reboot of node-a is no longer blocked.
	c, err := NewAlertmanager(am.URL, Filter{Regexp: watchdog}, nil)
	if err != nil {
		t.Fatal(err)
	}
	name, value, no, yes, by, why := "alertname", "DiskFull", false, true, "test", "planned maintenance"
	start := strfmt.DateTime(time.Now().Add(-time.Minute))
	_, err = api.Silence.PostSilences(silence.NewPostSilencesParamsWithContext(ctx).WithSilence(&models.PostableSilence{
		Silence: models.Silence{
			Matchers:  models.Matchers{{Name: &name, Value: &value, IsRegex: &no, IsEqual: &yes}},
			StartsAt:  &start,
			EndsAt:    &ends,
			CreatedBy: &by,
			Comment:   &why,
		},
	}))
	if err != nil {
		t.Fatalf("post silence: %v", err)
	}
	var last []string
	testenv.WaitFor(t, 20*time.Second, "the silence to unblock node-a", func() bool {
		var blocked bool
		blocked, last = Check(ctx, c, self)
		return !blocked
	})
	// The alert is still there, silenced: unblocking came from the silence, not from expiry.
	resp, err := api.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx).WithFilter([]string{`alertname="DiskFull"`}))
	if err != nil {
		t.Fatalf("get alerts: %v", err)
	}
	if len(resp.Payload) != 1 || len(resp.Payload[0].Status.SilencedBy) != 1 {
		t.Fatalf("DiskFull after the silence: %+v, want one silenced alert (last reasons %q)", resp.Payload, last)
	}
	// Without the self ignore, the KernelDeadlock alert still blocks.
	if blocked, reasons := Check(ctx, c, nil); !blocked || !slices.Equal(reasons, []string{"KernelDeadlock"}) {
		t.Errorf("Check without self ignore = %v, %q; want blocked by KernelDeadlock", blocked, reasons)
	}
}

// TestAlertmanagerRequestAndSuppressed checks the query sent (active and unprocessed alerts,
// not silenced or inhibited ones, under a route prefix), and that an alert the server returns
// anyway as silenced, inhibited or expired does not block. The Debian Alertmanager the tests
// start has no inhibit rules (testenv's configuration is fixed), so inhibition is covered here.
func TestAlertmanagerRequestAndSuppressed(t *testing.T) {
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/am/api/v2/alerts" {
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusNotFound)
			return
		}
		query = r.URL.Query().Encode()
		w.Header().Set("Content-Type", "application/json")
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		a := func(name, ends, state, silenced, inhibited string) string {
			return `{"labels":{"alertname":"` + name + `"},"annotations":{},"receivers":[{"name":"null"}],` +
				`"fingerprint":"f","startsAt":"` + past + `","updatedAt":"` + past + `","endsAt":"` + ends + `",` +
				`"status":{"state":"` + state + `","silencedBy":[` + silenced + `],"inhibitedBy":[` + inhibited + `]}}`
		}
		_, _ = w.Write([]byte("[" + strings.Join([]string{
			a("Active", future, "active", "", ""),
			a("Unprocessed", future, "unprocessed", "", ""),
			a("MutedByTimeInterval", future, "suppressed", "", ""),
			a("Silenced", future, "suppressed", `"s1"`, ""),
			a("Inhibited", future, "suppressed", "", `"KernelDeadlock"`),
			a("Resolved", past, "active", "", ""),
		}, ",") + "]"))
	}))
	defer srv.Close()

	c, err := NewAlertmanager(srv.URL+"/am", Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Blocking(context.Background(), nil)
	if err != nil {
		t.Fatalf("Blocking: %v", err)
	}
	if want := []string{"Active", "MutedByTimeInterval", "Unprocessed"}; !slices.Equal(got, want) {
		t.Errorf("Blocking = %q, want %q", got, want)
	}
	if want := "active=true&inhibited=false&silenced=false&unprocessed=true"; query != want {
		t.Errorf("query %q, want %q", query, want)
	}
}

func TestAlertmanagerUnreachableBlocks(t *testing.T) {
	u := closedURL(t)
	c, err := NewAlertmanager(u, Filter{}, &http.Client{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	blocked, reasons := Check(context.Background(), c, nil)
	if !blocked || len(reasons) != 1 || !strings.Contains(reasons[0], "connection refused") || !strings.Contains(reasons[0], u) {
		t.Fatalf("Check = %v, %q; want blocked with a reason naming %s and the refused connection", blocked, reasons, u)
	}
}

package rebooter_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/rebooter"
)

// TestAlerts runs a rebooter whose alert check asks a real Alertmanager, and one whose
// Alertmanager cannot be reached.
func TestAlerts(t *testing.T) {
	t.Run("FilterSelfAlertSilence", testAlertsFilterSelfAlertSilence)
	t.Run("Unreachable", testAlertsUnreachable)
}

// testAlertsFilterSelfAlertSilence: DiskFull blocks the reboot; IgnoredAlert (matched by
// --alert-filter-regexp) and the KernelDeadlock alert nodewarden raised for the condition that
// asked for this very reboot do not. Silencing DiskFull lets the reboot go ahead.
func testAlertsFilterSelfAlertSilence(t *testing.T) {
	am := testenv.StartAlertmanager(t)
	api := am.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const node = "alert-node.example.internal"

	ends := strfmt.DateTime(time.Now().Add(time.Hour))
	var post models.PostableAlerts
	for _, l := range []models.LabelSet{
		{"alertname": "DiskFull", "severity": "critical"},
		{"alertname": "IgnoredAlert"},
		{"alertname": "KernelDeadlock", "node": node},
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

	h := newHarness(t, func(cfg *rebooter.Config) {
		cfg.Period = 300 * time.Millisecond
		cfg.Alerts.AlertmanagerURL = am.URL
		cfg.Alerts.FilterRegexp = "^Ignored"
	})
	h.addNode(node)
	h.request(node, "rule:"+node, "KernelDeadlock")
	testenv.WaitFor(t, 30*time.Second, "blocked by DiskFull", func() bool {
		return h.has(node, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, "DiskFull")
	})
	for _, s := range h.phases(node) {
		if s.Phase != nwv1.RebootPhase_REBOOT_PHASE_BLOCKED {
			continue
		}
		if strings.Contains(s.Detail, "IgnoredAlert") || strings.Contains(s.Detail, "KernelDeadlock") {
			t.Errorf("blocked status %q names an alert that must not block", s.Detail)
		}
	}
	if ivs := h.reboots(); len(ivs) != 0 || h.has(node, nwv1.RebootPhase_REBOOT_PHASE_LOCKED, "") {
		t.Fatalf("took the lock or rebooted while DiskFull fired: reboots %+v, phases %v", ivs, phaseSeq(h.phases(node)))
	}

	// An operator silences DiskFull.
	name, value, no, yes, by, why := "alertname", "DiskFull", false, true, "test", "planned maintenance"
	start := strfmt.DateTime(time.Now().Add(-time.Minute))
	if _, err := api.Silence.PostSilences(silence.NewPostSilencesParamsWithContext(ctx).WithSilence(&models.PostableSilence{
		Silence: models.Silence{
			Matchers:  models.Matchers{{Name: &name, Value: &value, IsRegex: &no, IsEqual: &yes}},
			StartsAt:  &start,
			EndsAt:    &ends,
			CreatedBy: &by,
			Comment:   &why,
		},
	})); err != nil {
		t.Fatalf("post silence: %v", err)
	}
	h.waitCompleted(30*time.Second, node)
	wantReboots(t, h, 1)
	// The alerts still fire: the reboot went ahead because of the silence and the ignores.
	resp, err := api.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx))
	if err != nil || len(resp.Payload) != 3 {
		t.Errorf("alerts after the reboot: %v, %v; want the three still there", resp, err)
	}
}

// testAlertsUnreachable: an Alertmanager that cannot be asked blocks the reboot (fail safe).
func testAlertsUnreachable(t *testing.T) {
	const node = "alert-down.example.internal"
	h := newHarness(t, func(cfg *rebooter.Config) {
		cfg.Period = 300 * time.Millisecond
		cfg.Alerts.AlertmanagerURL = closedURL(t)
		cfg.Alerts.Timeout = 2 * time.Second
	})
	h.addNode(node)
	h.request(node, "sentinel:"+node, "")
	testenv.WaitFor(t, 30*time.Second, "blocked by the failed alert check", func() bool {
		return h.has(node, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, "alert check failed")
	})
	if !h.has(node, nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, h.base.Alerts.AlertmanagerURL) {
		t.Errorf("the blocked status does not name the Alertmanager it could not reach: %v", statusDetails(h, node))
	}
	if ivs := h.reboots(); len(ivs) != 0 || h.has(node, nwv1.RebootPhase_REBOOT_PHASE_LOCKED, "") {
		t.Fatalf("took the lock or rebooted without an alert check: reboots %+v, phases %v", ivs, phaseSeq(h.phases(node)))
	}
}

// closedURL returns an http URL on a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

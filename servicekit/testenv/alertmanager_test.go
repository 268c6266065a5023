package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

func TestAlertmanagerPostAndGetAlert(t *testing.T) {
	stopped := expectStopped(t)
	am := testenv.StartAlertmanager(t)
	stopped(am.URL)
	api := am.Client()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	labels := models.LabelSet{"alertname": "KernelDeadlock", "node": "ip-10-0-0-1.ec2.internal"}
	_, err := api.Alert.PostAlerts(alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(models.PostableAlerts{
		{Alert: models.Alert{Labels: labels}, Annotations: models.LabelSet{"summary": "task blocked"}},
	}))
	if err != nil {
		t.Fatalf("post alert: %v", err)
	}

	var got models.GettableAlerts
	testenv.WaitFor(t, 10*time.Second, "the posted alert to be listed", func() bool {
		resp, err := api.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx).WithFilter([]string{`node="ip-10-0-0-1.ec2.internal"`}))
		if err != nil {
			t.Logf("get alerts: %v", err)
			return false
		}
		got = resp.Payload
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1", len(got))
	}
	a := got[0]
	for k, v := range labels {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	if a.Status == nil || a.Status.State == nil || *a.Status.State != models.AlertStatusStateActive {
		t.Errorf("alert status %+v, want active", a.Status)
	}
}

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// Lines NPD's kernel-monitor.json matches: a temporary KernelOops and the permanent
// XfsShutdown condition (as in the detector's own tests).
const (
	oopsLine = "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008"
	xfsLine  = "XFS (sdb1): Log I/O Error Detected. Shutting down filesystem"
)

// A kernel oops written to a node's kmsg becomes a temporary problem in InfluxDB, a Slack
// message and an Alertmanager event alert; an XFS shutdown line becomes the XfsShutdown
// condition, which stays firing in Alertmanager (re-posted past its first endsAt), shows in
// Prometheus as nodewarden_node_condition 1 (scraped from the sink), and is set on the Node.
// The oops is also an Event on the Node and problem_counter 1 in Prometheus, and stays one
// point in InfluxDB.
func TestScenarioKernelOops(t *testing.T) {
	const node = "ip-10-0-0-1.ec2.internal" // dots: one subject token only after encoding
	e := Start(t, Options{
		Nodes: []string{node}, Influx: true, Prometheus: true, Alertmanager: true, Kube: true, Slack: true,
		Detectors: 1, Sink: true, Alerter: true,
	})
	n := e.Node(node)

	written := time.Now()
	n.Kmsg(t, 1, oopsLine)
	var influxAt, slackAt, alertAt time.Duration
	e.WaitFor(30*time.Second, "the oops in InfluxDB, on Slack and in Alertmanager", func() bool {
		if influxAt == 0 && len(e.problemPoints(node, "KernelOops", "event")) > 0 {
			influxAt = time.Since(written)
		}
		if slackAt == 0 && e.slackHas(node, "KernelOops") {
			slackAt = time.Since(written)
		}
		if alertAt == 0 {
			if _, ok := e.FindAlert(map[string]string{"alertname": "KernelOops", "node": node, "kind": "event"}); ok {
				alertAt = time.Since(written)
			}
		}
		return influxAt > 0 && slackAt > 0 && alertAt > 0
	})
	t.Logf("oops → InfluxDB %s, Slack %s, Alertmanager %s", influxAt, slackAt, alertAt)
	pts := e.problemPoints(node, "KernelOops", "event")
	if len(pts) != 1 || !strings.Contains(pts[0], oopsLine) {
		e.Fatalf("InfluxDB problem points of the oops: %q, want one whose message is the line", pts)
	}
	a, _ := e.FindAlert(map[string]string{"alertname": "KernelOops", "node": node})
	if a.Status.State != "active" || a.Labels["severity"] != "warning" {
		e.Fatalf("oops alert: state %q labels %v, want active with severity warning", a.Status.State, a.Labels)
	}

	written = time.Now()
	n.Kmsg(t, 2, xfsLine)
	xfs := map[string]string{"alertname": "XfsShutdown", "node": node}
	e.WaitFor(30*time.Second, "the XfsShutdown alert", func() bool { _, ok := e.FindAlert(xfs); return ok })
	t.Logf("XFS shutdown → Alertmanager %s", time.Since(written))
	first, _ := e.FindAlert(xfs)
	// Firing means re-posted: still active after the endsAt of the first post.
	e.WaitFor(30*time.Second, "XfsShutdown still active past its first endsAt "+first.EndsAt.String(), func() bool {
		a, ok := e.FindAlert(xfs)
		return ok && a.Status.State == "active" && time.Now().After(first.EndsAt.Add(time.Second)) && a.EndsAt.After(time.Now())
	})

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	q := `nodewarden_node_condition{node="` + node + `",condition="XfsShutdown"}`
	if _, err := e.Prom.WaitQuery(ctx, q, func(s []testenv.PromSample) bool { return len(s) == 1 && s[0].Value == 1 }); err != nil {
		e.Fatalf("Prometheus %s: %v", q, err)
	}
	e.WaitFor(30*time.Second, "the XfsShutdown condition in InfluxDB and on Slack", func() bool {
		return len(e.problemPoints(node, "XfsHasShutdown", "condition")) == 1 && e.slackHas(node, "XfsShutdown")
	})
	e.WaitFor(30*time.Second, "the XfsShutdown condition True on the Node", func() bool {
		kn, err := e.Kube.Client().CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range kn.Status.Conditions {
			if c.Type == "XfsShutdown" && c.Status == corev1.ConditionTrue && c.Reason == "XfsHasShutdown" {
				return true
			}
		}
		return false
	})
	e.WaitFor(30*time.Second, "a KernelOops Event on the Node", func() bool {
		evs, err := e.Kube.Client().CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + node})
		if err != nil {
			return false
		}
		for _, ev := range evs.Items {
			if ev.Reason == "KernelOops" && strings.Contains(ev.Message, oopsLine) {
				return true
			}
		}
		return false
	})
	oopsQ := `problem_counter{node="` + node + `",reason="KernelOops"}`
	if _, err := e.Prom.WaitQuery(ctx, oopsQ, func(s []testenv.PromSample) bool { return len(s) == 1 && s[0].Value == 1 }); err != nil {
		e.Fatalf("Prometheus %s: %v", oopsQ, err)
	}
	upQ := `count(up{job="` + testenv.PrometheusTargetsJob + `"} == 1)`
	want := float64(len(e.Procs()))
	if _, err := e.Prom.WaitQuery(ctx, upQ, func(s []testenv.PromSample) bool { return len(s) == 1 && s[0].Value == want }); err != nil {
		e.Fatalf("Prometheus %s: %v (want every service, %v)", upQ, err, want)
	}
	if got := e.problemPoints(node, "KernelOops", "event"); len(got) != 1 {
		e.Fatalf("the oops is %d points in InfluxDB after the XFS line, want still 1", len(got))
	}
}

// problemPoints returns the messages of node's problem points with reason and kind.
func (e *Env) problemPoints(node, reason, kind string) []string {
	series := e.Influx.Query(e.T, `SELECT "message" FROM "problem" WHERE "node" = '`+node+
		`' AND "reason" = '`+reason+`' AND "kind" = '`+kind+`'`)
	var out []string
	for _, s := range series {
		for _, v := range s.Values {
			if len(v) > 1 {
				msg, _ := v[1].(string)
				out = append(out, msg)
			}
		}
	}
	return out
}

// slackHas reports whether a Slack message names node and contains text.
func (e *Env) slackHas(node, text string) bool {
	for _, m := range e.Slack.Messages() {
		all := m.Text + " " + m.Header() + " " + strings.Join(m.Sections(), " ")
		if strings.Contains(all, node) && strings.Contains(all, text) {
			return true
		}
	}
	return false
}

package alerter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/alerter"
)

// env is an embedded JetStream, a real Alertmanager behind a recording proxy, and an alerter
// that can be stopped and started again.
type env struct {
	t     testing.TB
	js    *testenv.JetStream
	am    *testenv.Alertmanager
	proxy *recorder
	conds *conditions.Store
	cfg   func() alerter.Config

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t testing.TB, configure func(*alerter.Config)) *env {
	t.Helper()
	e := &env{t: t, js: testenv.StartJetStream(t), am: testenv.StartAlertmanager(t)}
	e.js.Provision(t)
	_, jsc := e.js.Connect(t)
	var err error
	if e.conds, err = conditions.Open(context.Background(), jsc, "NW_CONDITIONS"); err != nil {
		t.Fatal(err)
	}
	e.proxy = newRecorder(t, e.am.URL)
	e.cfg = func() alerter.Config {
		cfg := defaults()
		cfg.Common = testenv.Common(e.js.ClientURL())
		cfg.AM.URLs = []string{e.proxy.srv.URL}
		cfg.ResendInterval = 2 * time.Second
		cfg.ExtraLabels = []string{"cluster=test"}
		if configure != nil {
			configure(&cfg)
		}
		return cfg
	}
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := e.cfg()
	go func() { done <- alerter.Run(ctx, cfg) }()
	e.cancel, e.done = cancel, done
}

func (e *env) stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel, e.done = nil, nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			e.t.Errorf("alerter Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		e.t.Errorf("alerter did not stop within 15 s")
	}
}

// set writes a condition as the detector does (compare-and-set on the revision read).
func (e *env) set(node, typ, status, reason string) conditions.State {
	e.t.Helper()
	st, err := e.put(node, typ, status, reason)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// setQuiet is set for a background goroutine: a failed write is skipped.
func (e *env) setQuiet(node, typ, status, reason string) { _, _ = e.put(node, typ, status, reason) }

func (e *env) put(node, typ, status, reason string) (conditions.State, error) {
	ctx := context.Background()
	cur, rev, err := e.conds.Get(ctx, node, typ)
	if err != nil && !errors.Is(err, conditions.ErrNotFound) {
		return conditions.State{}, err
	}
	now := time.Now().UTC()
	st := conditions.State{Node: node, Type: typ, Status: status, Reason: reason, Message: reason + " seen in the kernel log",
		Source: "kernel-monitor", Severity: "critical", Since: now, Updated: now, ProblemID: "cond:" + node + ":" + typ + ":" + now.String()}
	if err == nil && cur.Status == status {
		st.Since = cur.Since
	}
	_, err = e.conds.Put(ctx, st, rev)
	return st, err
}

// active returns Alertmanager's active alerts named name on node.
func (e *env) active(name, node string) []*models.GettableAlert {
	e.t.Helper()
	f := []string{"alertname=" + name, "node=" + node}
	resp, err := e.am.Client().Alert.GetAlerts(alert.NewGetAlertsParams().WithFilter(f))
	if err != nil {
		return nil // down, in an outage test
	}
	return resp.GetPayload()
}

// recorder is a reverse proxy in front of Alertmanager that keeps every posted alert, so a
// test sees what was posted, resolved ones included (the API lists only active alerts).
type recorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []post
}

type post struct {
	at     time.Time
	alerts models.PostableAlerts
	status int
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func newRecorder(t testing.TB, target string) *recorder {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body []byte
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/alerts") {
			body, _ = io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		rp.ServeHTTP(sw, req)
		if body != nil {
			var as models.PostableAlerts
			_ = json.Unmarshal(body, &as)
			r.mu.Lock()
			r.posts = append(r.posts, post{at: time.Now(), alerts: as, status: sw.code})
			r.mu.Unlock()
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// postedSince returns the alerts named name on node that Alertmanager accepted after t0.
func (r *recorder) postedSince(t0 time.Time, name, node string) []*models.PostableAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*models.PostableAlert
	for _, p := range r.posts {
		if p.at.Before(t0) || p.status/100 != 2 {
			continue
		}
		for _, a := range p.alerts {
			if a.Labels["alertname"] == name && a.Labels["node"] == node {
				out = append(out, a)
			}
		}
	}
	return out
}

// calls counts the PostAlerts calls since t0.
func (r *recorder) calls(t0 time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.posts {
		if !p.at.Before(t0) {
			n++
		}
	}
	return n
}

// largest is the most alerts one PostAlerts call since t0 held.
func (r *recorder) largest(t0 time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	most := 0
	for _, p := range r.posts {
		if !p.at.Before(t0) {
			most = max(most, len(p.alerts))
		}
	}
	return most
}

package alerter

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/services/alerter/am"
)

// testTracker is a tracker posting to Alertmanager at amURL ("" = none), with a resend
// interval of a minute, nothing logged, and its clock now.
func testTracker(t *testing.T, amURL string, now func() time.Time) *tracker {
	t.Helper()
	var client *am.Client
	if amURL != "" {
		var err error
		if client, err = am.New(am.Options{URLs: []string{amURL}, Timeout: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	return newTracker(nil, builder{resend: time.Minute}, client, nil, slog.New(slog.NewTextHandler(io.Discard, nil)),
		newMetrics(prometheus.NewRegistry()), now)
}

// entry is a KV put (or, with op set, a delete) of a condition state, as the tracker's watch
// delivers it.
type entry struct {
	jetstream.KeyValueEntry
	key   string
	value []byte
	op    jetstream.KeyValueOp
}

func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.value }
func (e entry) Operation() jetstream.KeyValueOp { return e.op }

// A condition that changes while the post of its previous state is in flight is posted again
// by the next flush. It used to be marked clean once the in-flight post returned, so a
// True → False → True flap left the alert resolved until the next resend (found by the
// condition → alert benchmark: a p99 of 2 s, the tests' resend interval).
func TestChangeDuringPostIsPosted(t *testing.T) {
	inFlight, release := make(chan struct{}), make(chan struct{})
	posts := make(chan models.PostableAlerts, 10)
	n := 0 // posts received; the handler runs one at a time here, the tracker posting serially
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var as models.PostableAlerts
		if err := json.NewDecoder(r.Body).Decode(&as); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		posts <- as
		if n++; n == 2 { // the second post (the resolution) waits for the test
			close(inFlight)
			<-release
		}
	}))
	defer srv.Close()
	tr := testTracker(t, srv.URL, time.Now)
	since := time.Now().Add(-time.Minute)
	set := func(status string) {
		since = since.Add(time.Second)
		st := conditions.State{Node: "node-a", Type: "ReadonlyFilesystem", Status: status, Reason: "FilesystemIsReadOnly",
			Source: "kernel-monitor", Severity: "critical", Since: since, Updated: since}
		b, _ := json.Marshal(st)
		k, _ := conditions.Key(st.Node, st.Type)
		tr.apply(entry{key: k, value: b, op: jetstream.KeyValuePut})
	}
	firing := func(as models.PostableAlerts) bool {
		return len(as) == 1 && time.Time(as[0].EndsAt).After(time.Now())
	}
	ctx := context.Background()

	set(conditions.True)
	if err := tr.flushAlerts(ctx); err != nil {
		t.Fatal(err)
	}
	if as := <-posts; !firing(as) {
		t.Fatalf("first post %v, want the alert firing", as)
	}
	set(conditions.False)
	done := make(chan error, 1)
	go func() { done <- tr.flushAlerts(ctx) }()
	<-inFlight
	set(conditions.True) // lands while the resolution is in flight
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if as := <-posts; firing(as) {
		t.Fatalf("second post %v, want the alert resolved", as)
	}
	if err := tr.flushAlerts(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case as := <-posts:
		if !firing(as) {
			t.Fatalf("third post %v, want the alert firing again", as)
		}
	default:
		t.Fatal("the change made during the post was never posted")
	}
}

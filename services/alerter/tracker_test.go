package alerter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nodewarden/nodewarden/servicekit/conditions"
)

// What a flush posts for a condition state, by what the state went through: a default False
// (created for a new node, no Problem behind it) never fired and is not posted; one that went
// False is posted resolved for resolvedTail after.
func TestWhichConditionsArePosted(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		status    string
		problemID string
		since     time.Time
		want      string // "" nothing posted, "firing" or "resolved"
	}{
		{name: "default False of a new node", status: conditions.False, since: now, want: ""},
		{name: "went False a minute ago", status: conditions.False, problemID: "p1", since: now.Add(-time.Minute), want: "resolved"},
		{name: "went False long ago", status: conditions.False, problemID: "p1", since: now.Add(-resolvedTail - time.Minute), want: ""},
		{name: "True", status: conditions.True, problemID: "p1", since: now.Add(-time.Hour), want: "firing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var posted models.PostableAlerts
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var as models.PostableAlerts
				if err := json.NewDecoder(r.Body).Decode(&as); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				mu.Lock()
				posted = append(posted, as...)
				mu.Unlock()
			}))
			defer srv.Close()
			tr := testTracker(t, srv.URL, func() time.Time { return now })
			st := conditions.State{Node: "node-a", Type: "KernelDeadlock", Status: tt.status, Reason: "KernelHasNoDeadlock",
				Source: "kernel-monitor", Severity: "critical", Since: tt.since, Updated: tt.since, ProblemID: tt.problemID}
			b, _ := json.Marshal(st)
			k, _ := conditions.Key(st.Node, st.Type)
			tr.apply(entry{key: k, value: b, op: jetstream.KeyValuePut})
			// The change's flush, then a resend's.
			if err := tr.flushAlerts(context.Background()); err != nil {
				t.Fatal(err)
			}
			tr.markAll()
			if err := tr.flushAlerts(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			var got []string
			for _, a := range posted {
				if time.Time(a.EndsAt).After(now) {
					got = append(got, "firing")
				} else {
					got = append(got, "resolved")
				}
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want, tt.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("posted %q, want %q", got, want)
			}
		})
	}
}

// The active-conditions gauge follows every put and delete.
func TestActiveCount(t *testing.T) {
	tr := testTracker(t, "", time.Now)
	put := func(node, status, reason string) entry {
		st := conditions.State{Node: node, Type: "KernelDeadlock", Status: status, Reason: reason, Since: time.Now(), ProblemID: "p"}
		b, _ := json.Marshal(st)
		k, _ := conditions.Key(st.Node, st.Type)
		return entry{key: k, value: b, op: jetstream.KeyValuePut}
	}
	del := func(node string) entry {
		k, _ := conditions.Key(node, "KernelDeadlock")
		return entry{key: k, op: jetstream.KeyValueDelete}
	}
	steps := []struct {
		name string
		e    entry
		want float64
	}{
		{"a True", put("node-a", conditions.True, "DockerHung"), 1},
		{"b True", put("node-b", conditions.True, "DockerHung"), 2},
		{"a True for another reason", put("node-a", conditions.True, "AUFSUmountHung"), 2},
		{"a False", put("node-a", conditions.False, "KernelHasNoDeadlock"), 1},
		{"a False again", put("node-a", conditions.False, "KernelHasNoDeadlock"), 1},
		{"b deleted", del("node-b"), 0},
		{"b deleted again", del("node-b"), 0},
		{"c deleted, never seen", del("node-c"), 0},
		{"b True again", put("node-b", conditions.True, "DockerHung"), 1},
		{"not understood", entry{key: "x", value: []byte("{"), op: jetstream.KeyValuePut}, 1},
	}
	for _, s := range steps {
		tr.apply(s.e)
		if got := testutil.ToFloat64(tr.m.active); got != s.want {
			t.Fatalf("after %s: active %v, want %v", s.name, got, s.want)
		}
	}
}

package slack_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// TestShutdownWhileRateLimited stops the output while it waits out a long Retry-After: the
// stop returns at once, and the restarted output posts the message once.
func TestShutdownWhileRateLimited(t *testing.T) {
	e := setup(t, via("api"))
	e.fake.RateLimit(1, time.Hour)
	stop := e.run(t)
	e.event(t, "n1", "p1", "OOMKilling", warning)
	waitRequests(t, e, 1)
	begin := time.Now()
	stop()
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("stop took %s while rate limited", d)
	}
	if n := len(e.fake.Messages()); n != 0 {
		t.Fatalf("%d messages before the restart", n)
	}
	e.newOutput(t)
	e.run(t)
	e.waitMessages(t, 1, 10*time.Second)
	e.waitSettled(t, 5*time.Second)
	if n := len(e.fake.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// TestRejectedMessage: a webhook that refuses the blocks gets the text alone; one that refuses
// that too dead-letters the message, and the next one is posted.
func TestRejectedMessage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		posted   int // of the first message
		dead     uint64
	}{
		{"blocks refused, text posted", 1, 1, 0},
		{"text refused too", 2, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, via("webhook"))
			e.fake.Fail(tc.failures, http.StatusBadRequest, "invalid_blocks")
			e.run(t)
			e.event(t, "n1", "p1", "First", warning)
			e.event(t, "n1", "p2", "Second", warning)
			got := e.waitMessages(t, tc.posted+1, 10*time.Second)
			e.waitSettled(t, 5*time.Second)
			if len(got) != tc.posted+1 {
				t.Fatalf("%d messages, want %d", len(got), tc.posted+1)
			}
			if tc.posted == 1 && (got[0].Blocks != nil || got[0].Text == "") {
				t.Errorf("the first message kept its blocks or lost its text: %+v", got[0])
			}
			if last := got[len(got)-1]; last.Fields()["Reason"] != "Second" {
				t.Errorf("last message %q", last.Text)
			}
			info, err := e.js.Stream(context.Background(), topology.StreamDead)
			if err != nil {
				t.Fatal(err)
			}
			si, err := info.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if si.State.Msgs != tc.dead {
				t.Errorf("%d dead letters, want %d", si.State.Msgs, tc.dead)
			}
		})
	}
}

func waitRequests(t *testing.T, e *env, n int) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "requests", func() bool { return e.fake.Requests() >= n })
}

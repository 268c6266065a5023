package simulate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// fakePub records publishes and how many were in flight at once.
type fakePub struct {
	delay time.Duration
	fail  func(subj string) error

	mu            sync.Mutex
	inFlight, max int
	got           []pubRecord
}

type pubRecord struct {
	subj, id string
	at       time.Time
}

func (f *fakePub) PublishRaw(ctx context.Context, subj, msgID string, data []byte, _ nats.Header) (*jetstream.PubAck, error) {
	f.mu.Lock()
	f.inFlight++
	f.max = max(f.max, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail != nil {
		if err := f.fail(subj); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	f.got = append(f.got, pubRecord{subj, msgID, time.Now()})
	f.mu.Unlock()
	return &jetstream.PubAck{Stream: "TEST"}, nil
}

func runFake(t *testing.T, c Config, pub *fakePub) string {
	t.Helper()
	s, err := newSim(c, 42, pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	done := make(chan struct{})
	go func() { s.run(context.Background(), &out); close(done) }()
	select {
	case <-done:
	case <-time.After(c.Duration + 10*time.Second):
		t.Fatal("run did not stop after its duration")
	}
	return out.String()
}

var doneLine = regexp.MustCompile(`(?m)^done elapsed=\S+ msgs=(\d+) bytes=(\d+) errors=(\d+) skipped=(\d+) .* node=(\d+) container=(\d+) health=(\d+) log=(\d+)`)

// Nodes publish at their own point of the interval, never more at once than --concurrency,
// with a distinct message id each; the summary counts what was stored.
func TestRunSpreadsPublishesOverTheInterval(t *testing.T) {
	c := defaults(t)
	c.Nodes, c.Containers, c.LogRate, c.Interval, c.Duration, c.Concurrency = 200, 2, 2, 400*time.Millisecond, 1000*time.Millisecond, 4
	pub := &fakePub{delay: 500 * time.Microsecond}
	out := runFake(t, c, pub)

	if pub.max > c.Concurrency || pub.max < 2 {
		t.Errorf("%d publishes in flight at most, want 2 to %d", pub.max, c.Concurrency)
	}
	first := map[string]time.Time{}
	ids := map[string]bool{}
	for _, p := range pub.got {
		if ids[p.id] {
			t.Fatalf("message id %s published twice", p.id)
		}
		ids[p.id] = true
		if strings.Contains(p.subj, ".sample.node.") {
			if _, ok := first[p.subj]; !ok {
				first[p.subj] = p.at
			}
		}
	}
	if len(first) != c.Nodes {
		t.Fatalf("%d nodes published a node sample, want %d", len(first), c.Nodes)
	}
	lo, hi := time.Now(), time.Time{}
	for _, at := range first {
		lo, hi = minTime(lo, at), maxTime(hi, at)
	}
	buckets := make([]int, 10)
	for _, at := range first {
		buckets[min(9, int(at.Sub(lo)*10/c.Interval))]++
	}
	if hi.Sub(lo) < c.Interval/2 {
		t.Errorf("first node samples within %s of an interval of %s: a burst", hi.Sub(lo), c.Interval)
	}
	for i, b := range buckets {
		if b > c.Nodes/4 {
			t.Errorf("%d of %d first samples in tenth %d of the interval: %v", b, c.Nodes, i, buckets)
		}
	}

	m := doneLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no final summary line in:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n != len(pub.got) || m[3] != "0" {
		t.Fatalf("summary says %s messages, %s errors; %d were published:\n%s", m[1], m[3], len(pub.got), out)
	}
	if strings.Count(out, "\nelapsed=")+boolInt(strings.HasPrefix(out, "elapsed=")) < 2 {
		t.Errorf("want a summary line per interval:\n%s", out)
	}
}

// Failed publishes are counted and reported; the run goes on with the rest.
func TestRunCountsFailedPublishes(t *testing.T) {
	c := defaults(t)
	c.Nodes, c.Containers, c.LogRate, c.Interval, c.Duration = 5, 3, 0, 100*time.Millisecond, 450*time.Millisecond
	sp := subject.Space{}
	pub := &fakePub{fail: func(subj string) error {
		if p, _ := sp.Parse(subj); p.Kind == subject.KindHealth {
			return errors.New("nats: timeout")
		}
		return nil
	}}
	out := runFake(t, c, pub)
	m := doneLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no final summary line in:\n%s", out)
	}
	node, _ := strconv.Atoi(m[5])
	errs, _ := strconv.Atoi(m[3])
	// A stop may come between a node sample and its health reports.
	if node < c.Nodes*3 || m[7] != "0" || errs > 2*node || errs < 2*(node-c.Nodes) {
		t.Fatalf("node=%s health=%s errors=%s, want node ≥ %d, health 0, errors 2 per node sample:\n%s",
			m[5], m[7], m[3], c.Nodes*3, out)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

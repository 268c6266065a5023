package topology_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func actions(rs []topology.Result) map[string]topology.Action {
	m := map[string]topology.Action{}
	for _, r := range rs {
		m[r.Name] = r.Action
	}
	return m
}

func TestProvisionIsIdempotent(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	s := topology.DefaultSettings()

	first, err := topology.Provision(ctx, js, s, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 12 {
		t.Fatalf("provisioned %d items, want 6 streams + 6 buckets", len(first))
	}
	for name, a := range actions(first) {
		if a != topology.Created {
			t.Errorf("first run: %s %s, want created", name, a)
		}
	}
	second, err := topology.Provision(ctx, js, s, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range actions(second) {
		if a != topology.Unchanged {
			t.Errorf("second run: %s %s, want unchanged", name, a)
		}
	}

	// A limit from the flags is applied to the existing stream and bucket.
	s.SamplesMaxAge = 2 * time.Hour
	s.SlackSentTTL = time.Hour
	third, err := topology.Provision(ctx, js, s, quiet)
	if err != nil {
		t.Fatal(err)
	}
	got := actions(third)
	if got[topology.StreamSamples] != topology.Updated || got[topology.BucketSlackSent] != topology.Updated || got[topology.StreamLogs] != topology.Unchanged {
		t.Fatalf("third run: %v", got)
	}
	st, err := js.Stream(ctx, topology.StreamSamples)
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedInfo().Config.MaxAge != 2*time.Hour {
		t.Fatalf("SAMPLES max age = %v", st.CachedInfo().Config.MaxAge)
	}

	if err := topology.Check(ctx, js, s.Prefix, topology.Needs{
		Streams: []string{topology.StreamSamples, topology.StreamLogs, topology.StreamEvents, topology.StreamReboot, topology.StreamDead},
		Buckets: []string{topology.BucketConditions, topology.BucketRebootLock, topology.BucketSlackSent},
	}); err != nil {
		t.Fatalf("Check after provisioning: %v", err)
	}
	if err := topology.Check(ctx, js, "other", topology.Needs{Streams: []string{topology.StreamEvents}}); !errors.Is(err, topology.ErrIncompatible) {
		t.Fatalf("Check with another prefix = %v, want ErrIncompatible", err)
	}
}

func TestProvisionRefusesIncompatible(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	s := topology.DefaultSettings()

	tests := []struct {
		name     string
		existing jetstream.StreamConfig
	}{
		{"storage", jetstream.StreamConfig{Name: topology.StreamLogs, Subjects: []string{"nw.log.>"}, Storage: jetstream.MemoryStorage}},
		{"subjects", jetstream.StreamConfig{Name: topology.StreamLogs, Subjects: []string{"other.log.>"}, Storage: jetstream.FileStorage}},
		{"retention", jetstream.StreamConfig{Name: topology.StreamLogs, Subjects: []string{"nw.log.>"}, Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = js.DeleteStream(ctx, tt.existing.Name)
			if _, err := js.CreateStream(ctx, tt.existing); err != nil {
				t.Fatal(err)
			}
			_, err := topology.Provision(ctx, js, s, quiet)
			if !errors.Is(err, topology.ErrIncompatible) {
				t.Fatalf("Provision = %v, want ErrIncompatible", err)
			}
			st, _ := js.Stream(ctx, tt.existing.Name)
			if got := st.CachedInfo().Config; got.Storage != tt.existing.Storage || got.Subjects[0] != tt.existing.Subjects[0] {
				t.Fatalf("stream was changed: %+v", got)
			}
		})
	}
}

func TestCheckMissing(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	if err := topology.Check(ctx, js, "nw", topology.Needs{Streams: []string{topology.StreamSamples}}); !errors.Is(err, topology.ErrMissing) {
		t.Fatalf("Check stream = %v, want ErrMissing", err)
	}
	if err := topology.Check(ctx, js, "nw", topology.Needs{Buckets: []string{topology.BucketConditions}}); !errors.Is(err, topology.ErrMissing) {
		t.Fatalf("Check bucket = %v, want ErrMissing", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*topology.Settings)
		flag string
	}{
		{"replicas", func(s *topology.Settings) { s.Replicas = 0 }, "--replicas"},
		{"storage", func(s *topology.Settings) { s.Storage = "disk" }, "--storage"},
		{"max age", func(s *topology.Settings) { s.LogsMaxAge = 0 }, "--logs-max-age"},
		{"prefix", func(s *topology.Settings) { s.Prefix = "nw.>" }, "--subject-prefix"},
		{"max bytes", func(s *topology.Settings) { s.MaxBytes = 0 }, "--stream-max-bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := topology.DefaultSettings()
			tt.mod(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.flag)
			}
		})
	}
	if err := topology.DefaultSettings().Validate(); err != nil {
		t.Fatal(err)
	}
}

package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrIncompatible marks an existing stream or bucket whose settings differ from ours in a way
// provisioning will not change by itself (storage, retention, subjects).
var ErrIncompatible = errors.New("incompatible settings")

// Action is what provisioning did to one stream or bucket.
type Action string

// Provisioning actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Result is one line of a provisioning report.
type Result struct {
	Kind   string // "stream" or "bucket"
	Name   string
	Action Action
	Detail string // what changed, for Updated
}

// Provision creates missing streams and buckets and updates limits (max age, size, replicas,
// duplicate window, TTL) of existing ones. It is idempotent: a second run reports every item
// Unchanged. It refuses, with ErrIncompatible, to touch an item whose storage, retention or
// subjects differ.
func Provision(ctx context.Context, js jetstream.JetStream, s Settings, log *slog.Logger) ([]Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var out []Result
	for _, want := range s.Streams() {
		r, err := provisionStream(ctx, js, want)
		if err != nil {
			return out, err
		}
		log.Info("provisioned stream", "stream", r.Name, "action", r.Action, "detail", r.Detail)
		out = append(out, r)
	}
	for _, want := range s.Buckets() {
		r, err := provisionBucket(ctx, js, want)
		if err != nil {
			return out, err
		}
		log.Info("provisioned bucket", "bucket", r.Name, "action", r.Action, "detail", r.Detail)
		out = append(out, r)
	}
	return out, nil
}

func provisionStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (Result, error) {
	res := Result{Kind: "stream", Name: want.Name}
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, want); err != nil {
			return res, fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		res.Action = Created
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("look up stream %s: %w", want.Name, err)
	}
	have := st.CachedInfo().Config
	if err := immutableMatch("stream "+want.Name, have, want); err != nil {
		return res, err
	}
	diff := limitDiff(have, want)
	if len(diff) == 0 {
		res.Action = Unchanged
		return res, nil
	}
	// Keep whatever the server or an operator set that we do not manage.
	upd := have
	upd.Description, upd.MaxAge, upd.MaxBytes, upd.MaxMsgs = want.Description, want.MaxAge, want.MaxBytes, want.MaxMsgs
	upd.Replicas, upd.Duplicates, upd.Discard = want.Replicas, want.Duplicates, want.Discard
	if _, err := js.UpdateStream(ctx, upd); err != nil {
		return res, fmt.Errorf("update stream %s (%s): %w", want.Name, strings.Join(diff, ", "), err)
	}
	res.Action, res.Detail = Updated, strings.Join(diff, ", ")
	return res, nil
}

// immutableMatch compares what provisioning never changes by itself.
func immutableMatch(what string, have, want jetstream.StreamConfig) error {
	if have.Storage != want.Storage {
		return fmt.Errorf("%s: storage is %s, want %s (JetStream cannot change it; delete the stream or provision with --storage=%s): %w",
			what, storageName(have.Storage), storageName(want.Storage), storageName(have.Storage), ErrIncompatible)
	}
	if have.Retention != want.Retention {
		return fmt.Errorf("%s: retention is %s, want %s: %w", what, have.Retention, want.Retention, ErrIncompatible)
	}
	if !sameSet(have.Subjects, want.Subjects) {
		return fmt.Errorf("%s: subjects are %v, want %v (another installation or prefix?): %w",
			what, have.Subjects, want.Subjects, ErrIncompatible)
	}
	if h, w := sourcesString(have.Sources), sourcesString(want.Sources); h != w {
		return fmt.Errorf("%s: sources are %s, want %s (a different --detector-partitions? delete the stream to change it): %w",
			what, h, w, ErrIncompatible)
	}
	return nil
}

// sourcesString describes sources and their transforms, for comparison and errors.
func sourcesString(srcs []*jetstream.StreamSource) string {
	var parts []string
	for _, s := range srcs {
		p := s.Name
		for _, t := range s.SubjectTransforms {
			p += " " + t.Source + "->" + t.Destination
		}
		parts = append(parts, p)
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, "; ") + "]"
}

func limitDiff(have, want jetstream.StreamConfig) []string {
	var d []string
	add := func(name string, h, w any) {
		if h != w {
			d = append(d, fmt.Sprintf("%s %v -> %v", name, h, w))
		}
	}
	add("max_age", have.MaxAge, want.MaxAge)
	add("max_bytes", have.MaxBytes, want.MaxBytes)
	add("max_msgs", have.MaxMsgs, want.MaxMsgs)
	add("replicas", have.Replicas, want.Replicas)
	add("duplicate_window", have.Duplicates, want.Duplicates)
	add("discard", have.Discard, want.Discard)
	if want.Description != "" {
		add("description", have.Description, want.Description)
	}
	return d
}

func provisionBucket(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) (Result, error) {
	res := Result{Kind: "bucket", Name: want.Bucket}
	st, err := js.Stream(ctx, "KV_"+want.Bucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateKeyValue(ctx, want); err != nil {
			return res, fmt.Errorf("create bucket %s: %w", want.Bucket, err)
		}
		res.Action = Created
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("look up bucket %s: %w", want.Bucket, err)
	}
	have := st.CachedInfo().Config
	wantStorage := want.Storage
	if have.Storage != wantStorage {
		return res, fmt.Errorf("bucket %s: storage is %s, want %s (delete the bucket or provision with --storage=%s): %w",
			want.Bucket, storageName(have.Storage), storageName(wantStorage), storageName(have.Storage), ErrIncompatible)
	}
	var diff []string
	if have.MaxMsgsPerSubject != int64(want.History) {
		diff = append(diff, fmt.Sprintf("history %d -> %d", have.MaxMsgsPerSubject, want.History))
	}
	if have.MaxAge != want.TTL {
		diff = append(diff, fmt.Sprintf("ttl %v -> %v", have.MaxAge, want.TTL))
	}
	if have.Replicas != want.Replicas {
		diff = append(diff, fmt.Sprintf("replicas %d -> %d", have.Replicas, want.Replicas))
	}
	if len(diff) == 0 {
		res.Action = Unchanged
		return res, nil
	}
	if _, err := js.UpdateKeyValue(ctx, want); err != nil {
		return res, fmt.Errorf("update bucket %s (%s): %w", want.Bucket, strings.Join(diff, ", "), err)
	}
	res.Action, res.Detail = Updated, strings.Join(diff, ", ")
	return res, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// storageName spells a storage type as the --storage flag does.
func storageName(s jetstream.StorageType) string { return strings.ToLower(s.String()) }

package topology

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// ErrMissing marks a stream or bucket that has not been provisioned yet.
var ErrMissing = errors.New("not provisioned (run `nodewarden provision`)")

// Needs lists what a service uses.
type Needs struct {
	Streams []string
	Buckets []string
}

// Check verifies that every stream and bucket in needs exists, and that each stream carries
// the subjects of this prefix with limits retention. It reads stream info only, which a service
// user may do without stream-admin rights. Errors wrap ErrMissing or ErrIncompatible.
func Check(ctx context.Context, js jetstream.JetStream, prefix string, needs Needs) error {
	want := map[string]jetstream.StreamConfig{}
	for _, c := range (Settings{Prefix: prefix}).Streams() {
		want[c.Name] = c
	}
	for _, name := range needs.Streams {
		w, ok := want[name]
		if !ok {
			return fmt.Errorf("check stream %s: unknown stream", name)
		}
		st, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("stream %s: %w", name, ErrMissing)
		}
		if err != nil {
			return fmt.Errorf("check stream %s: %w", name, err)
		}
		have := st.CachedInfo().Config
		if have.Retention != jetstream.LimitsPolicy {
			return fmt.Errorf("stream %s: retention is %s, want limits: %w", name, have.Retention, ErrIncompatible)
		}
		for _, s := range w.Subjects {
			if !covers(have.Subjects, s) {
				return fmt.Errorf("stream %s: subjects %v do not include %s (subject prefix %q?): %w",
					name, have.Subjects, s, prefix, ErrIncompatible)
			}
		}
		if have.Duplicates <= 0 {
			return fmt.Errorf("stream %s: duplicate window is %v, want > 0: %w", name, have.Duplicates, ErrIncompatible)
		}
	}
	for _, b := range needs.Buckets {
		_, err := js.KeyValue(ctx, b)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("bucket %s: %w", b, ErrMissing)
		}
		if err != nil {
			return fmt.Errorf("check bucket %s: %w", b, err)
		}
	}
	return nil
}

func covers(have []string, s string) bool {
	for _, h := range have {
		if h == s || subject.Covers(h, s) {
			return true
		}
	}
	return false
}

// Partitions reads P, the partition count of the DETECT stream, from its configuration, so the
// detector always agrees with what was provisioned.
func Partitions(ctx context.Context, js jetstream.JetStream) (int, error) {
	st, err := js.Stream(ctx, StreamDetect)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, fmt.Errorf("stream %s: %w", StreamDetect, ErrMissing)
	}
	if err != nil {
		return 0, fmt.Errorf("check stream %s: %w", StreamDetect, err)
	}
	for _, src := range st.CachedInfo().Config.Sources {
		for _, t := range src.SubjectTransforms {
			if m := partitionRe.FindStringSubmatch(t.Destination); m != nil {
				p, err := strconv.Atoi(m[1])
				if err == nil && p > 0 {
					return p, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("stream %s: no partition() in its source transforms: %w", StreamDetect, ErrIncompatible)
}

var partitionRe = regexp.MustCompile(`\{\{\s*partition\(\s*(\d+)\s*,`)

package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Holders lists every held slot in the bucket, by slot number, for `nodewarden lock status`.
// It reads all slot keys, not only those below one node's --concurrency, so a slot left over
// from a larger setting shows too.
func Holders(ctx context.Context, kv jetstream.KeyValue) ([]Holder, error) {
	v, err := readView(ctx, kv, []string{KeyPrefix + "*"})
	if err != nil {
		return nil, err
	}
	var hs []Holder
	for _, s := range v {
		if s.held {
			hs = append(hs, s.holder)
		}
	}
	slices.SortFunc(hs, func(a, b Holder) int { return a.Slot - b.Slot })
	return hs, nil
}

// ForceRelease frees every slot held by node (`nodewarden lock release <node> --force`), each
// at the revision read so a slot re-taken meanwhile is left alone. It reports whether any was
// freed.
func ForceRelease(ctx context.Context, kv jetstream.KeyValue, node string) (bool, error) {
	hs, err := Holders(ctx, kv)
	if err != nil {
		return false, err
	}
	freed := false
	var errs []error
	for _, h := range hs {
		if h.Invalid || h.Node != node {
			continue
		}
		if err := deleteAt(ctx, kv, h); err != nil {
			if !errors.Is(err, ErrNotHeld) {
				errs = append(errs, err)
			}
			continue
		}
		freed = true
	}
	return freed, errors.Join(errs...)
}

// ReleaseGone frees slots whose holder no longer exists according to exists (the caller's
// Kubernetes Node lookup), so a deleted node cannot hold the lock forever. A lookup error keeps
// that slot held (fail safe) and is returned. It returns the nodes whose slots were freed.
func ReleaseGone(ctx context.Context, kv jetstream.KeyValue, exists func(ctx context.Context, node string) (bool, error)) ([]string, error) {
	hs, err := Holders(ctx, kv)
	if err != nil {
		return nil, err
	}
	var (
		gone []string
		errs []error
	)
	for _, h := range hs {
		if h.Invalid {
			continue
		}
		ok, err := exists(ctx, h.Node)
		if err != nil {
			errs = append(errs, fmt.Errorf("look up lock holder %s: %w", h.Node, err))
			continue
		}
		if ok {
			continue
		}
		if err := deleteAt(ctx, kv, h); err != nil {
			if !errors.Is(err, ErrNotHeld) {
				errs = append(errs, err)
			}
			continue
		}
		gone = append(gone, h.Node)
	}
	return gone, errors.Join(errs...)
}

// Package backoff computes retry delays: capped exponential backoff with jitter, shared by
// reconnects, naks of failed messages and retried writes so they all behave the same way.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Duration is the wait before retry number attempt (0-based): about base, doubling each
// attempt, never more than max, jittered into [d/2, d] so many clients do not retry in step.
func Duration(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

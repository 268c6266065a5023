// Package health checks the node's runtime components the way Node Problem Detector's health
// checker and kubelet do: kubelet's /healthz, the container runtime over CRI (Version, then
// Status), docker's /_ping, and a systemd unit's state. Each Checker bounds its own check with
// its timeout and reports healthy or not, why, how long it took and how it checked; Run checks
// them all in parallel every interval and hands each Result to a callback, which turns it into a
// HealthReport. A check never fails: whatever goes wrong is the unhealthy Result's message.
package health

import (
	"context"
	"sync"
	"time"
)

// Result is one check of one component.
type Result struct {
	// Component checked: "kubelet", "containerd", "docker", "systemd/<unit>".
	Component string
	Healthy   bool
	// What is wrong when unhealthy; what was found (e.g. the runtime's version) when healthy.
	Message string
	Latency time.Duration
	// How it was checked, e.g. "GET http://127.0.0.1:10248/healthz".
	Check string
	// Restarts of the component where known (systemd's NRestarts), else 0.
	RestartCount uint32
}

// Checker checks one component. Check returns within the checker's timeout (or when ctx ends,
// if sooner).
type Checker interface {
	Component() string
	Check(ctx context.Context) Result
}

// Run checks every checker at once, right away and then every interval, and calls emit with each
// result as it arrives, from Run's goroutine (emit need not be safe for concurrent use). A round
// that takes longer than the interval delays the next instead of overlapping it. Run returns when
// ctx ends, after the checks in flight have returned.
func Run(ctx context.Context, checkers []Checker, interval time.Duration, emit func(Result)) {
	if len(checkers) == 0 {
		<-ctx.Done()
		return
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		round(ctx, checkers, emit)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// round runs one check of each checker in parallel and emits the results as they come.
func round(ctx context.Context, checkers []Checker, emit func(Result)) {
	results := make(chan Result, len(checkers))
	var wg sync.WaitGroup
	for _, c := range checkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- c.Check(ctx)
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	for r := range results {
		if ctx.Err() != nil {
			continue // shutting down: drain, do not report checks cut short by it
		}
		emit(r)
	}
}

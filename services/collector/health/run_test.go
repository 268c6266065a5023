package health

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// funcChecker is a Checker made of a function.
type funcChecker struct {
	name  string
	check func(ctx context.Context) Result
}

func (f funcChecker) Component() string                { return f.name }
func (f funcChecker) Check(ctx context.Context) Result { return f.check(ctx) }

// The checks of a round run at once: each waits until all have started, which only completes
// when they run in parallel.
func TestRunParallelRounds(t *testing.T) {
	const n = 3
	var mu sync.Mutex
	started := map[int]int{}           // round → checks started
	barrier := map[int]chan struct{}{} // round → closed when all n have started
	rounds := map[string]int{}         // checker → rounds it has run
	mk := func(name string) Checker {
		return funcChecker{name: name, check: func(ctx context.Context) Result {
			mu.Lock()
			r := rounds[name]
			rounds[name]++
			if barrier[r] == nil {
				barrier[r] = make(chan struct{})
			}
			ch := barrier[r]
			if started[r]++; started[r] == n {
				close(ch)
			}
			mu.Unlock()
			select {
			case <-ch:
				return Result{Component: name, Healthy: true}
			case <-time.After(5 * time.Second):
				return Result{Component: name}
			case <-ctx.Done():
				return Result{Component: name}
			}
		}}
	}
	checkers := []Checker{mk("a"), mk("b"), mk("c")}

	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan Result, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, checkers, 20*time.Millisecond, func(r Result) { results <- r })
	}()

	seen := map[string]int{}
	timeout := time.After(10 * time.Second)
	for seen["a"] < 2 || seen["b"] < 2 || seen["c"] < 2 {
		select {
		case r := <-results:
			if !r.Healthy {
				t.Fatalf("%s did not see its round's other checks start: checks are not run in parallel", r.Component)
			}
			seen[r.Component]++
		case <-timeout:
			t.Fatalf("after 10s saw %v, want two rounds of each check", seen)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// Run returns when its context ends, after the checks in flight, and does not report checks cut
// short by the shutdown.
func TestRunStops(t *testing.T) {
	inCheck := make(chan struct{})
	var returned atomic.Bool
	slow := funcChecker{name: "slow", check: func(ctx context.Context) Result {
		defer returned.Store(true)
		close(inCheck)
		<-ctx.Done()
		return Result{Component: "slow", Message: "cut short"}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	var emitted []Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, []Checker{slow}, time.Hour, func(r Result) { emitted = append(emitted, r) })
	}()
	<-inCheck
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !returned.Load() {
		t.Error("Run returned before the check in flight did")
	}
	if len(emitted) != 0 {
		t.Errorf("emitted %v during shutdown, want nothing", emitted)
	}
}

func TestRunNoCheckers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, nil, time.Millisecond, func(Result) { t.Error("emitted without checkers") })
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run without checkers did not return after its context ended")
	}
}

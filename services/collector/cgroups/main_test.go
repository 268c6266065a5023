package cgroups

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Fixtures that are costly to make (1,000 real cgroups, a generated tree of 80,000 files) are
// made once per test binary, on first use, and removed after every test and benchmark ran.
var fixtures struct {
	sync.Mutex
	made     map[string]any
	cleanups []func() error
}

// fixture returns the fixture named key, making it with make on first use.
func fixture[T any](tb testing.TB, key string, make func() (T, func() error, error)) T {
	tb.Helper()
	fixtures.Lock()
	defer fixtures.Unlock()
	if v, ok := fixtures.made[key]; ok {
		return v.(T)
	}
	v, cleanup, err := make()
	if cleanup != nil {
		fixtures.cleanups = append(fixtures.cleanups, cleanup)
	}
	if err != nil {
		tb.Fatalf("make fixture %s: %v", key, err)
	}
	if fixtures.made == nil {
		fixtures.made = map[string]any{}
	}
	fixtures.made[key] = v
	return v
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(fixtures.cleanups) - 1; i >= 0; i-- {
		if err := fixtures.cleanups[i](); err != nil {
			fmt.Fprintln(os.Stderr, "remove fixture:", err)
			code = 1
		}
	}
	os.Exit(code)
}

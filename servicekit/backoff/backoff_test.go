package backoff

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 2500 * time.Millisecond, 5 * time.Second},
		{1000, 2500 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		for i := 0; i < 100; i++ {
			if d := Duration(tt.attempt, 100*time.Millisecond, 5*time.Second); d < tt.min || d > tt.max {
				t.Fatalf("Duration(%d) = %v, want [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
	if d := Duration(3, 0, time.Second); d != 0 {
		t.Fatalf("zero base gave %v", d)
	}
}

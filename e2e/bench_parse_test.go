package e2e

import (
	"testing"
	"time"
)

// The benchmark table's pure pieces: parsing `go test -bench` output, the backlog-growth
// figure, and the probe token round trip. They run in make test; the table itself only with
// NW_BENCH=1.

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkCollectRealV1/1000-2         	      10	  30400000 ns/op	        80.00 files/op	        30.40 cpu-ms/op	        27.10 maxrss-MiB
BenchmarkParseKmsg-2   	37000000	        27.00 ns/op	  37200000 lines/s	       0 B/op	       0 allocs/op
BenchmarkKernelMonitorSpeedup 	 1000	 1000 ns/op	 12.5 x-npd-lastline
BenchmarkCollectV2Tree/1000-2 	 10	 1 ns/op	 19.7 cpu-ms/op
BenchmarkCollectV2Tree/1000-2 	 10	 1 ns/op	 12.4 cpu-ms/op
BenchmarkCollectV2Tree/1000-2 	 10	 1 ns/op	 12.9 cpu-ms/op
--- SKIP: BenchmarkNaiveWalkRealV1
PASS
`)
	m := parseBench(out)
	tests := []struct {
		name, unit string
		want       float64
		ok         bool
	}{
		{"BenchmarkCollectRealV1/1000", "cpu-ms/op", 30.4, true},
		{"BenchmarkCollectRealV1/1000", "maxrss-MiB", 27.1, true},
		{"BenchmarkParseKmsg", "lines/s", 37.2e6, true},
		{"BenchmarkParseKmsg", "allocs/op", 0, true},
		{"BenchmarkKernelMonitorSpeedup", "x-npd-lastline", 12.5, true},
		{"BenchmarkCollectV2Tree/1000", "cpu-ms/op", 12.9, true}, // -count 3: the median
		{"BenchmarkNaiveWalkRealV1", "cpu-ms/op", 0, false},
	}
	for _, tt := range tests {
		got, ok := m.get(tt.name, tt.unit)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s %s = %v, %v; want %v, %v", tt.name, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBacklogGrowth(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// A consumer handling 1,000 messages per 10 s wave: pending peaks each wave and falls back
	// to its trough; the trough rises by rise over the run.
	series := func(rise uint64) []pendingSample {
		var s []pendingSample
		for i := range 61 { // 30 s, every 500 ms
			at := t0.Add(time.Duration(i) * 500 * time.Millisecond)
			pending := uint64(0)
			if i%20 < 5 {
				pending = 500 // the wave
			}
			pending += rise * uint64(i) / 60
			s = append(s, pendingSample{at: at, per: map[string]consumerState{"SAMPLES/c": {pending: pending, delivered: uint64(i) * 50}}})
		}
		return s
	}
	tests := []struct {
		name     string
		samples  []pendingSample
		min, max float64
	}{
		{"keeps up", series(0), 0, 0.001},
		{"falls behind", series(300), 0.05, 0.2},
		{"one sample", series(0)[:1], 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := backlogGrowth(tt.samples, 10*time.Second)
			if g < tt.min || g > tt.max {
				t.Errorf("growth %v, want in [%v, %v]", g, tt.min, tt.max)
			}
		})
	}
}

func TestProbeToken(t *testing.T) {
	tests := []struct{ msg, want string }{
		{probeLine("7e570000deadbeef"), "7e570000deadbeef"},
		{"kernel: " + probeLine("7e570000deadbeef") + " trailing", "7e570000deadbeef"},
		{"BUG: unable to handle kernel NULL pointer dereference at 0000000000000008", ""},
		{probeLine("7e57"), ""},
	}
	for _, tt := range tests {
		if got := probeToken(tt.msg); got != tt.want {
			t.Errorf("probeToken(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func TestProcCPU(t *testing.T) {
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for time.Now().Before(deadline) { // burn CPU until the kernel has counted a tick of it
		for i := range 1_000_000 {
			x += i
		}
		if d, err := procCPU("self"); err != nil {
			t.Fatal(err)
		} else if d > 0 {
			return
		}
	}
	t.Fatalf("procCPU(self) stayed 0 (%d)", x)
}

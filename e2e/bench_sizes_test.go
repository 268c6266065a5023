package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// benchSizesEnv names the sizes of TestBenchCapacity, e.g. "8000x50,10000x50": one capacity
// step at a time, to look at a size without the whole table's run.
const benchSizesEnv = "NW_BENCH_SIZES"

// TestBenchCapacity runs the capacity search over NW_BENCH_SIZES only, InfluxDB off, or on
// with NW_BENCH_INFLUX=1, and logs each step as the table's notes do.
func TestBenchCapacity(t *testing.T) {
	spec := os.Getenv(benchSizesEnv)
	if spec == "" {
		t.Skipf("runs only with %s set (e.g. %s=8000x50,10000x50)", benchSizesEnv, benchSizesEnv)
	}
	sizes, err := parseSizes(spec)
	if err != nil {
		t.Fatalf("%s: %v", benchSizesEnv, err)
	}
	cfg := capacityConfig(false)
	cfg.sizes, cfg.influxSizes = sizes, sizes
	influx := os.Getenv("NW_BENCH_INFLUX") == "1"
	res := searchCapacity(t, cfg, influx)
	off, on := res, capResult{influx: true}
	if influx {
		off, on = capResult{}, res
	}
	for _, n := range capacityNotes(cfg, off, on) {
		t.Log(n)
	}
}

// parseSizes reads "NxC,NxC".
func parseSizes(spec string) ([]clusterSize, error) {
	var sizes []clusterSize
	for f := range strings.SplitSeq(spec, ",") {
		n, c, ok := strings.Cut(strings.TrimSpace(f), "x")
		nodes, err1 := strconv.Atoi(n)
		containers, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || nodes < 1 || containers < 0 {
			return nil, fmt.Errorf("size %q: want nodes x containers, e.g. 8000x50", f)
		}
		sizes = append(sizes, clusterSize{nodes, containers})
	}
	return sizes, nil
}

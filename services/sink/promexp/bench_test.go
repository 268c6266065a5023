package promexp

import (
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// containerMsg is node n's sample of containers containers, each in a pod of its own.
func containerMsg(n, containers int, now time.Time) *nwv1.ContainerSamples {
	m := &nwv1.ContainerSamples{Node: fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", n/256, n%256), Time: ts(now)}
	for c := range containers {
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", n, c)
		id := fmt.Sprintf("%064x", n*1000+c)
		m.Containers = append(m.Containers, &nwv1.ContainerSample{
			Id: id, PodUid: uid, Name: "app", PodName: fmt.Sprintf("web-%d-%d", n, c), Namespace: "shop",
			Image: "registry.example/web:1.2", CgroupPath: "/kubepods/burstable/pod" + uid + "/" + id,
			Cpu: &nwv1.ContainerCPU{UsageSeconds: float64(c), UserSeconds: 1, SystemSeconds: 1, Periods: 10,
				ThrottledPeriods: 1, ThrottledSeconds: 0.1, QuotaUsec: 50000, PeriodUsec: 100000, Shares: 512},
			Memory: &nwv1.ContainerMemory{UsageBytes: 1 << 20, WorkingSetBytes: 1 << 19, LimitBytes: 1 << 30},
			Blkio:  &nwv1.ContainerBlkio{ReadBytes: 1, WriteBytes: 2},
			Pids:   3,
		})
	}
	return m
}

// fill observes nodes × containers containers.
func fill(tb testing.TB, s *Store, nodes, containers int, now time.Time) {
	for n := range nodes {
		if err := s.Observe(containerMsg(n, containers, now), now); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkScrape100k times one full scrape of 100,000 series (1000 nodes × 5 containers × 20
// container series): registry Gather plus text encoding, what a /metrics request costs.
func BenchmarkScrape100k(b *testing.B) {
	s := NewStore(Options{SampleInterval: 10 * time.Second}, func() time.Time { return t0 })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fill(b, s, 1000, 5, t0)
	runtime.GC()
	runtime.ReadMemStats(&after)
	series := s.Series()
	if series < 100000 {
		b.Fatalf("%d series, want at least 100000", series)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
	// CPU time (GC included) does not grow when other processes share the machine's cores.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/scrape")
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(series), "heapB/series")
}

// cpuTime is the process' user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObserveContainers times ingesting one node's ContainerSamples (30 containers) into a
// store holding 1000 nodes: the per-message cost on the consumer's goroutine.
func BenchmarkObserveContainers(b *testing.B) {
	s := NewStore(Options{SampleInterval: 10 * time.Second}, nil)
	now := time.Now()
	fill(b, s, 1000, 5, now)
	msg := containerMsg(7, 30, now)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Observe(msg, now); err != nil {
			b.Fatal(err)
		}
	}
}

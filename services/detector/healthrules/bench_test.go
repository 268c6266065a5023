package healthrules

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkHealth is one health report through the default rules on a healthy node: the
// detector's steady state.
func BenchmarkHealth(b *testing.B) {
	n := Default().NewNode()
	r := ok("kubelet", 0, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Seq = uint64(i + 1)
		r.Time = timestamppb.New(t0.Add(time.Duration(i) * time.Second))
		if n.Health(r) != nil {
			b.Fatal("change")
		}
	}
}

// BenchmarkSample is one node sample (three mount points, PSI) through the default rules.
func BenchmarkSample(b *testing.B) {
	n := Default().NewNode()
	s := smp(0, 0).fs("/", .5).fs("/var/lib/kubelet", .6).fs("/var/lib/containerd", .7).psiMemFull(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Seq = uint64(i + 1)
		s.Time = timestamppb.New(t0.Add(time.Duration(i) * time.Second))
		if n.Sample(s.NodeSample) != nil {
			b.Fatal("change")
		}
	}
}

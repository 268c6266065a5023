package msgid

import (
	"testing"
	"time"
)

func TestIDs(t *testing.T) {
	start := time.Unix(1700000000, 123)
	for _, tc := range []struct{ got, want string }{
		{NodeSample("ip-10-0-0-1.ec2.internal", start, 7), "sample.node:ip-10-0-0-1.ec2.internal:1700000000000000123:7"},
		{ContainerSamples("n1", start, 8), "sample.container:n1:1700000000000000123:8"},
		{Health("n1", "kubelet", start, 9), "health:n1:kubelet:1700000000000000123:9"},
		{RebootStatus("n1", "cli:n1:5", start, 2), "reboot.status:n1:cli:n1:5:1700000000000000123:2"},
		{LogBatch("n1", "kernel-monitor", "kmsg:b", 10), "log:n1:kernel-monitor:kmsg:b:10"},
		{RebootRequired("sentinel:n1:b"), "sentinel:n1:b"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func BenchmarkNodeSample(b *testing.B) {
	start := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = NodeSample("ip-10-0-0-1.ec2.internal", start, uint64(i))
	}
}

package simulate

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// BenchmarkNodeInterval generates and marshals what one node publishes per interval: a node
// sample, container samples, two health reports, and the log batches of the interval at the
// collector's 200 ms batching (1 line/s over 10 s: ten batches of one line).
func BenchmarkNodeInterval(b *testing.B) {
	for _, tc := range []struct {
		name       string
		containers int
	}{{"containers=30", 30}, {"containers=110", 110}} {
		b.Run(tc.name, func(b *testing.B) {
			n := testNode(b, 1, tc.containers, params{logRate: 1, matchRate: 0.01})
			buf := make([]byte, 0, 64<<10)
			at := time.Unix(1_780_000_000, 0)
			var bytes int
			b.ReportAllocs()
			for b.Loop() {
				at = at.Add(10 * time.Second)
				n.interval(at)
				bytes = 0
				for _, m := range []proto.Message{n.ns, n.cs.msg, n.health[0].msg, n.health[1].msg} {
					var err error
					if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf[:0], m); err != nil {
						b.Fatal(err)
					}
					bytes += len(buf)
				}
				for k := n.logs.due(at); k > 0; k = n.logs.due(at) {
					n.logs.fill(n.r, at, 1)
					var err error
					if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf[:0], n.logs.msg); err != nil {
						b.Fatal(err)
					}
					bytes += len(buf)
				}
			}
			b.SetBytes(int64(bytes))
		})
	}
}

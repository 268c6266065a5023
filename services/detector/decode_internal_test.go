package detector

import (
	"testing"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// TestDecodeDetect: the subject names node and log source (both encoded tokens); a payload that
// claims another node or source is refused.
func TestDecodeDetect(t *testing.T) {
	sp := subject.Space{Prefix: "nw"}
	dec := decodeDetect(sp)
	batch := func(node, source string) []byte {
		b, _ := proto.Marshal(&nwv1.LogBatch{Node: node, Source: source})
		return b
	}
	for _, tc := range []struct {
		name, subj string
		data       []byte
		ok         bool
	}{
		{"plain", "nw.detect.3.log.kernel-monitor.ip-10-0-0-1_ec2_internal", batch("ip-10-0-0-1.ec2.internal", "kernel-monitor"), true},
		{"source with a dot", "nw.detect.3.log.my_source.n1", batch("n1", "my.source"), true},
		{"source with an escape", "nw.detect.3.log.a=2Fb.n1", batch("n1", "a/b"), true},
		{"other source", "nw.detect.3.log.kernel-monitor.n1", batch("n1", "docker-monitor"), false},
		{"other node", "nw.detect.3.log.kernel-monitor.n1", batch("n2", "kernel-monitor"), false},
		{"bad source token", "nw.detect.3.log.a=ZZ.n1", batch("n1", "a"), false},
		{"garbage", "nw.detect.3.log.kernel-monitor.n1", []byte{0xff, 0xff, 0xff}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dec(tc.subj, tc.data)
			if (err == nil) != tc.ok {
				t.Fatalf("decode %s = %v, want ok=%t", tc.subj, err, tc.ok)
			}
		})
	}
}

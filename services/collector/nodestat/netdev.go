package nodestat

import (
	"bytes"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/collector/internal/bytesparse"
)

// netDevFields is the number of counters after "name:" in /proc/net/dev: eight receive
// (bytes packets errs drop fifo frame compressed multicast) and eight transmit (bytes packets
// errs drop fifo colls carrier compressed).
const netDevFields = 16

// parseNetDev reads /proc/net/dev. The two header lines are told by their '|'; every other line is
// "name: 16 counters" (older kernels print no space after the colon). An interface name cannot
// contain ':', so the first colon ends it. name turns the name's bytes into a string, so a
// caller can reuse the strings of the interfaces it saw last time.
func parseNetDev(b []byte, f [][]byte, name func([]byte) string) ([]*nwv1.NetworkStats, error) {
	var out []*nwv1.NetworkStats
	for len(b) > 0 {
		var line []byte
		line, b = bytesparse.NextLine(b)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			if len(bytes.TrimSpace(line)) == 0 || bytes.IndexByte(line, '|') >= 0 {
				continue // blank or header
			}
			return nil, malformed("line %q", line)
		}
		iface := bytes.TrimSpace(line[:colon])
		if len(iface) == 0 || bytes.ContainsAny(iface, " \t|") {
			return nil, malformed("interface name in %q", line)
		}
		f = bytesparse.Fields(line[colon+1:], f)
		if len(f) != netDevFields {
			return nil, malformed("interface %q has %d counters, want %d", iface, len(f), netDevFields)
		}
		var v [netDevFields]uint64
		for i := range v {
			x, err := bytesparse.Uint(f[i])
			if err != nil {
				return nil, malformed("interface %q counter %d %q", iface, i+1, f[i])
			}
			v[i] = x
		}
		out = append(out, &nwv1.NetworkStats{
			Interface: name(iface),
			RxBytes:   v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11],
		})
	}
	return out, nil
}

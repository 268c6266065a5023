package promexp

import (
	"hash/fnv"

	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// PartitionOf is the partition of node among partitions, exactly as the DETECT stream's subject
// mapping {{partition(n, k)}} computes it: nats-server hashes the node's subject token
// (subject.Encode) with FNV-1a 32 and takes it modulo n (server/subject_transform.go,
// getHashPartition). The sink uses it to expose only the nodes of the partitions it holds, so
// replicas agree with the detector on who owns a node. It is -1 for a name that cannot be a
// subject token or for partitions < 1.
func PartitionOf(node string, partitions int) int {
	if partitions < 1 {
		return -1
	}
	tok, err := subject.Encode(node)
	if err != nil {
		return -1
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(tok))
	return int(h.Sum32() % uint32(partitions))
}

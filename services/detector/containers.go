package detector

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// lastSample names a node's containers from its latest container sample in SAMPLES, read with
// one direct get when an OOM kill needs it: container samples are too many to stream through
// the detector for the few lines that need them.
type lastSample struct {
	js jetstream.JetStream
	sp subject.Space
}

func (l lastSample) Lookup(ctx context.Context, node, containerID string) (pod, namespace, container string, ok bool) {
	subj, err := l.sp.ContainerSamples(node)
	if err != nil {
		return "", "", "", false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := l.js.Stream(ctx, topology.StreamSamples)
	if err != nil {
		return "", "", "", false
	}
	msg, err := st.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		return "", "", "", false
	}
	var cs nwv1.ContainerSamples
	if proto.Unmarshal(msg.Data, &cs) != nil {
		return "", "", "", false
	}
	for _, c := range cs.Containers {
		if c.Id == containerID {
			return c.PodName, c.Namespace, c.Name, c.PodName != ""
		}
	}
	return "", "", "", false
}

// Package schema ties subjects to message types: it decodes any nodewarden message by its
// subject and summarises it in one line, for consumers and for `nodewarden tail`.
package schema

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// ErrUnknownSubject is returned for subjects that carry no known message type.
var ErrUnknownSubject = errors.New("no message type for subject")

// New returns an empty message of the type a subject kind carries.
func New(k subject.Kind) (proto.Message, error) {
	switch k {
	case subject.KindNodeSample:
		return &nwv1.NodeSample{}, nil
	case subject.KindContainerSamples:
		return &nwv1.ContainerSamples{}, nil
	case subject.KindHealth:
		return &nwv1.HealthReport{}, nil
	case subject.KindLog:
		return &nwv1.LogBatch{}, nil
	case subject.KindProblem:
		return &nwv1.Problem{}, nil
	case subject.KindRebootRequired:
		return &nwv1.RebootRequired{}, nil
	case subject.KindRebootStatus:
		return &nwv1.RebootStatus{}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownSubject, k)
}

// Decoder returns a function that decodes the messages of one subject space, as
// consume.Decoder wants. It fails for unknown subjects, bad protobuf, and messages whose node
// field disagrees with the node in the subject.
func Decoder(sp subject.Space) func(subj string, data []byte) (proto.Message, error) {
	return func(subj string, data []byte) (proto.Message, error) {
		return Decode(sp, subj, data)
	}
}

// Decode decodes one message by its subject.
func Decode(sp subject.Space, subj string, data []byte) (proto.Message, error) {
	p, err := sp.Parse(subj)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownSubject, err)
	}
	m, err := New(p.Kind)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode %s as %T: %w", subj, m, err)
	}
	if n, ok := m.(interface{ GetNode() string }); ok && n.GetNode() != p.Node {
		return nil, fmt.Errorf("decode %s: node %q in the message, %q in the subject", subj, n.GetNode(), p.Node)
	}
	return m, nil
}

package subject

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultPrefix is the first token(s) of every nodewarden subject.
const DefaultPrefix = "nw"

var prefixRE = regexp.MustCompile(`^[-_a-zA-Z0-9]+(\.[-_a-zA-Z0-9]+)*$`)

// ValidatePrefix checks a configured subject prefix: dot-separated plain tokens.
func ValidatePrefix(prefix string) error {
	if !prefixRE.MatchString(prefix) {
		return fmt.Errorf("subject prefix %q: want dot-separated tokens of [-_a-zA-Z0-9]", prefix)
	}
	return nil
}

// Space builds the subjects under one prefix. The zero value uses DefaultPrefix.
type Space struct {
	Prefix string
}

func (s Space) p() string {
	if s.Prefix == "" {
		return DefaultPrefix
	}
	return s.Prefix
}

// Join is the subject of the given tokens under the prefix; tokens are used as given.
func (s Space) Join(parts ...string) string { return s.join(parts...) }

func (s Space) join(parts ...string) string {
	return s.p() + "." + strings.Join(parts, ".")
}

func (s Space) node(kind, node string) (string, error) {
	tok, err := Encode(node)
	if err != nil {
		return "", fmt.Errorf("%s subject: node: %w", kind, err)
	}
	return s.join(kind, tok), nil
}

// NodeSample is <prefix>.sample.node.<node>.
func (s Space) NodeSample(node string) (string, error) { return s.node("sample.node", node) }

// ContainerSamples is <prefix>.sample.container.<node>.
func (s Space) ContainerSamples(node string) (string, error) {
	return s.node("sample.container", node)
}

// Health is <prefix>.health.<node>.
func (s Space) Health(node string) (string, error) { return s.node("health", node) }

// Problem is <prefix>.problem.<node>.
func (s Space) Problem(node string) (string, error) { return s.node("problem", node) }

// RebootRequired is <prefix>.reboot.required.<node>.
func (s Space) RebootRequired(node string) (string, error) {
	return s.node("reboot.required", node)
}

// RebootStatus is <prefix>.reboot.status.<node>.
func (s Space) RebootStatus(node string) (string, error) { return s.node("reboot.status", node) }

// Log is <prefix>.log.<source>.<node>; the source (an NPD monitor's `source`) is encoded like
// a node name.
func (s Space) Log(source, node string) (string, error) {
	src, err := Encode(source)
	if err != nil {
		return "", fmt.Errorf("log subject: source: %w", err)
	}
	return s.node("log."+src, node)
}

// Dead is <prefix>.dead.<stream>: where undecodable messages of a stream are copied.
func (s Space) Dead(stream string) string { return s.join("dead", MustEncode(stream)) }

// All matches every subject of a kind, e.g. All("sample") = <prefix>.sample.>.
func (s Space) All(kind string) string { return s.join(kind, ">") }

// Kind names what a subject carries, so a reader can pick the message type.
type Kind int

// The kinds of subject.
const (
	KindUnknown Kind = iota
	KindNodeSample
	KindContainerSamples
	KindHealth
	KindLog
	KindProblem
	KindRebootRequired
	KindRebootStatus
	KindDead
)

var kindNames = [...]string{"unknown", "node-sample", "container-samples", "health", "log",
	"problem", "reboot-required", "reboot-status", "dead"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Parsed is a subject taken apart.
type Parsed struct {
	Kind   Kind
	Node   string // decoded; empty for dead letters
	Source string // log source, decoded
	Stream string // for dead letters
}

// Parse takes a subject of this space apart. Subjects outside the space, or with a token that
// does not decode, give KindUnknown and an error.
func (s Space) Parse(subj string) (Parsed, error) {
	prefix := s.p() + "."
	if !strings.HasPrefix(subj, prefix) {
		return Parsed{}, fmt.Errorf("subject %q: not under %q", subj, s.p())
	}
	toks := strings.Split(strings.TrimPrefix(subj, prefix), ".")
	var p Parsed
	var nodeTok string
	switch {
	case len(toks) == 3 && toks[0] == "sample" && toks[1] == "node":
		p.Kind, nodeTok = KindNodeSample, toks[2]
	case len(toks) == 3 && toks[0] == "sample" && toks[1] == "container":
		p.Kind, nodeTok = KindContainerSamples, toks[2]
	case len(toks) == 2 && toks[0] == "health":
		p.Kind, nodeTok = KindHealth, toks[1]
	case len(toks) == 2 && toks[0] == "problem":
		p.Kind, nodeTok = KindProblem, toks[1]
	case len(toks) == 3 && toks[0] == "reboot" && toks[1] == "required":
		p.Kind, nodeTok = KindRebootRequired, toks[2]
	case len(toks) == 3 && toks[0] == "reboot" && toks[1] == "status":
		p.Kind, nodeTok = KindRebootStatus, toks[2]
	case len(toks) == 3 && toks[0] == "log":
		src, err := Decode(toks[1])
		if err != nil {
			return Parsed{}, fmt.Errorf("subject %q: source: %w", subj, err)
		}
		p.Kind, p.Source, nodeTok = KindLog, src, toks[2]
	case len(toks) == 2 && toks[0] == "dead":
		stream, err := Decode(toks[1])
		if err != nil {
			return Parsed{}, fmt.Errorf("subject %q: stream: %w", subj, err)
		}
		return Parsed{Kind: KindDead, Stream: stream}, nil
	default:
		return Parsed{}, fmt.Errorf("subject %q: unknown kind", subj)
	}
	node, err := Decode(nodeTok)
	if err != nil {
		return Parsed{}, fmt.Errorf("subject %q: node: %w", subj, err)
	}
	p.Node = node
	return p, nil
}

// Covers reports whether the subject filter pattern matches every subject that filter sub
// matches ("nw.>" covers "nw.sample.>").
func Covers(pattern, sub string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(sub, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) {
			return false
		}
		if p != "*" && p != st[i] || p == "*" && st[i] == ">" {
			return false
		}
	}
	return len(pt) == len(st)
}

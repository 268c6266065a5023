package e2e

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// badHeader marks every message the bad-input test publishes with its index; dead letters
// keep the original's headers, so each one can be traced back to what was sent.
const badHeader = "Nw-E2e-Bad"

// badMsg is one hostile message.
type badMsg struct {
	Kind  string // what is wrong with it: random, truncated, oversized, mismatch, ...
	Subj  string
	Data  []byte
	Dead  bool // it cannot be decoded (or names no request): every consumer must dead-letter it
	Valid bool // it decodes: a consumer may process it or reject it, but must stay up
}

// subjectKinds are the subject kinds the services consume, with a valid message of each for a
// node (its node field set), so that a bad variant of each can be made.
var subjectKinds = []struct {
	name  string
	subj  func(sp subject.Space, node string) (string, error)
	valid func(node string) proto.Message
}{
	{"sample.node", subject.Space.NodeSample, func(n string) proto.Message {
		return &nwv1.NodeSample{Node: n, Time: timestamppb.Now(), Seq: 1, BootId: "b", Cpu: &nwv1.CPUStats{UserSeconds: 1}}
	}},
	{"sample.container", subject.Space.ContainerSamples, func(n string) proto.Message {
		return &nwv1.ContainerSamples{Node: n, Time: timestamppb.Now(), Seq: 1, Containers: []*nwv1.ContainerSample{
			{Id: "c1", Name: "app", PodName: "web-1", Namespace: "default", Cpu: &nwv1.ContainerCPU{UsageSeconds: 1}}}}
	}},
	{"health", subject.Space.Health, func(n string) proto.Message {
		return &nwv1.HealthReport{Node: n, Time: timestamppb.Now(), Component: "kubelet", Healthy: true, Message: "ok"}
	}},
	{"log", func(sp subject.Space, n string) (string, error) { return sp.Log("kernel-monitor", n) }, func(n string) proto.Message {
		return &nwv1.LogBatch{Node: n, Source: "kernel-monitor", Time: timestamppb.Now(), FirstSeq: 1, StreamId: "kmsg:e2e",
			Lines: []*nwv1.LogLine{{Time: timestamppb.Now(), Seq: 1, Message: "a harmless kernel line"}}}
	}},
	{"problem", subject.Space.Problem, func(n string) proto.Message {
		return &nwv1.Problem{Node: n, Time: timestamppb.Now(), Id: "e2e-bad-" + n, Source: "kernel-monitor",
			Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: "E2EBadInput", Message: "hostile", Severity: nwv1.Severity_SEVERITY_WARNING}
	}},
	{"reboot.status", subject.Space.RebootStatus, func(n string) proto.Message {
		return &nwv1.RebootStatus{Node: n, Time: timestamppb.Now(), RequestId: "r-" + n, Phase: nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, Detail: "hostile"}
	}},
}

// badGen makes the bad messages; rnd is seeded so every run sends the same bytes.
type badGen struct {
	sp         subject.Space
	rnd        *rand.Rand
	maxPayload int
	out        []badMsg
}

// undecodable reports whether the services' decoder rejects data on subj.
func (g *badGen) undecodable(subj string, data []byte) bool {
	_, err := schema.Decode(g.sp, subj, data)
	return err != nil
}

func (g *badGen) random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rnd.UintN(256))
	}
	return b
}

// randomBad returns n random bytes the decoder rejects on subj (random bytes are valid
// protobuf now and then: a few tries find some that are not).
func (g *badGen) randomBad(subj string, n int) []byte {
	for {
		if b := g.random(n); g.undecodable(subj, b) {
			return b
		}
	}
}

// truncated cuts a valid message short at the first cut the decoder rejects (a cut at a field
// boundary is still a valid, shorter message).
func (g *badGen) truncated(subj string, m proto.Message) []byte {
	b, _ := proto.Marshal(m)
	for cut := len(b) - 1; cut > 0; cut-- {
		if g.undecodable(subj, b[:cut]) {
			return b[:cut]
		}
	}
	return b[:1]
}

func (g *badGen) add(kind, subj string, data []byte, dead bool) {
	g.out = append(g.out, badMsg{Kind: kind, Subj: subj, Data: data, Dead: dead, Valid: !g.undecodable(subj, data)})
}

// subj is the subject of a kind for a token given as is (not encoded).
func (g *badGen) rawSubj(kind, token string) string {
	if kind == "log" {
		return g.sp.Join("log", "kernel-monitor", token)
	}
	return g.sp.Join(kind, token)
}

// oversize is a payload size just under the server's limit, leaving room for the headers of
// the publish and those JetStream adds when it sources LOGS and SAMPLES into DETECT.
func (g *badGen) oversize() int { return g.maxPayload - 512 }

// undecodables are, for every consumed subject kind: random bytes, a truncated message, random
// bytes just under the max payload, a payload naming another node or no node, and subject
// tokens that do not decode (an escaped newline, a non-canonical escape, raw unicode).
func (g *badGen) undecodables(node string) {
	for _, k := range subjectKinds {
		subj, err := k.subj(g.sp, node)
		if err != nil {
			panic(err) // node is a constant of the test
		}
		g.add("random", subj, g.randomBad(subj, 1+g.rnd.IntN(200)), true)
		g.add("truncated", subj, g.truncated(subj, k.valid(node)), true)
		g.add("oversized-random", subj, g.randomBad(subj, g.oversize()), true)
		other, _ := proto.Marshal(k.valid(node + "-other"))
		g.add("node-mismatch", subj, other, true)
		empty, _ := proto.Marshal(k.valid(""))
		g.add("empty-node", subj, empty, true)
		for _, tc := range []struct{ token, node string }{
			{"bi=0Actl", "bi\nctl"},    // an escaped newline: Decode refuses whitespace
			{"bi=2Edot", "bi.dot"},     // '.' must be '_', not an escape
			{"n\u0153ud", "n\u0153ud"}, // raw unicode: not in the token alphabet
		} {
			data, _ := proto.Marshal(k.valid(tc.node))
			g.add("hostile-token "+strconv.Quote(tc.token), g.rawSubj(k.name, tc.token), data, true)
		}
	}
}

// rebootRequests are bad requests on the subject of node's rebooter: it must dead-letter them
// all and reboot nothing.
func (g *badGen) rebootRequests(node string) {
	subj, _ := g.sp.RebootRequired(node)
	valid := func(n, id string) []byte {
		b, _ := proto.Marshal(&nwv1.RebootRequired{Node: n, Time: timestamppb.Now(), RequestId: id, Reason: "hostile", BootId: "b"})
		return b
	}
	full := &nwv1.RebootRequired{Node: node, Time: timestamppb.Now(), RequestId: "e2e-bad", Reason: "hostile", BootId: "b"}
	g.add("random", subj, g.randomBad(subj, 64), true)
	g.add("truncated", subj, g.truncated(subj, full), true)
	g.add("oversized-random", subj, g.randomBad(subj, g.oversize()), true)
	g.add("node-mismatch", subj, valid(node+"-other", "e2e-bad"), true)
	g.add("empty-node", subj, valid("", "e2e-bad"), true)
	// Decodes, but a request without an id cannot be tracked: the rebooter rejects it.
	g.add("no-request-id", subj, valid(node, ""), true)
}

// oopsPadded is a kernel log line the kernel-monitor rules match, padded to size bytes.
func oopsPadded(size int) string {
	return oopsLine + " " + strings.Repeat("x", max(0, size-len(oopsLine)-1))
}

// hostileValid are messages that decode but carry hostile content: odd yet valid node names
// (a control character, "..", unicode, 300 characters), absurd sizes and absurd times.
func (g *badGen) hostileValid() {
	for _, node := range []string{"bi\x01ctl", "bi..dots", "n\u0153ud-\u00fc.example", strings.Repeat("n", 300)} {
		for _, k := range subjectKinds {
			subj, err := k.subj(g.sp, node)
			if err != nil {
				panic(err)
			}
			m := k.valid(node)
			if lb, ok := m.(*nwv1.LogBatch); ok {
				lb.Lines[0].Message = oopsLine // the detector makes a problem of it, with this node
			}
			data, _ := proto.Marshal(m)
			g.add("odd-node "+strconv.Quote(node), subj, data, false)
		}
	}
	big := g.oversize() - 256 // the message's own fields besides the padded one
	huge := func(kind, node string, m proto.Message) {
		subj, _ := subjectKinds[kindIndex(kind)].subj(g.sp, node)
		data, _ := proto.Marshal(m)
		g.add(kind+"-huge", subj, data, false)
	}
	now := timestamppb.Now()
	// 100,000 containers of one name (distinct names would pass InfluxDB's max-values-per-tag
	// of 100,000 on "container", and every container seen after would be rejected).
	cs := &nwv1.ContainerSamples{Node: "bi-100k-containers", Time: now, Seq: 1}
	for range 100_000 {
		cs.Containers = append(cs.Containers, &nwv1.ContainerSample{Name: "c"})
	}
	huge("sample.container", cs.Node, cs)
	ns := &nwv1.NodeSample{Node: "bi-20k-filesystems", Time: now, Seq: 1}
	for i := range 20_000 {
		ns.Filesystems = append(ns.Filesystems, &nwv1.FilesystemStats{Mountpoint: "/m/" + strconv.Itoa(i)})
	}
	huge("sample.node", ns.Node, ns)
	huge("log", "bi-1mb-line", &nwv1.LogBatch{Node: "bi-1mb-line", Source: "kernel-monitor", Time: now, FirstSeq: 1,
		StreamId: "kmsg:e2e", Lines: []*nwv1.LogLine{{Time: now, Seq: 1, Message: oopsPadded(big)}}})
	huge("health", "bi-1mb-health", &nwv1.HealthReport{Node: "bi-1mb-health", Time: now, Component: "kubelet",
		Message: strings.Repeat("h", big)})
	huge("problem", "bi-1mb-problem", &nwv1.Problem{Node: "bi-1mb-problem", Time: now, Id: "e2e-1mb", Source: "kernel-monitor",
		Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: "E2EHuge", Message: strings.Repeat("p", big), Severity: nwv1.Severity_SEVERITY_WARNING})
	huge("reboot.status", "bi-1mb-status", &nwv1.RebootStatus{Node: "bi-1mb-status", Time: now, RequestId: "r",
		Phase: nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, Detail: strings.Repeat("s", big)})
	// Times no clock shows: far past the year 9999 and before the epoch.
	for _, ts := range []*timestamppb.Timestamp{{Seconds: 1 << 60}, {Seconds: -1 << 40, Nanos: -5}} {
		p := subjectKinds[kindIndex("problem")].valid("bi-absurd-time").(*nwv1.Problem)
		p.Time, p.TransitionTime, p.Id = ts, ts, fmt.Sprint("e2e-time-", ts.GetSeconds())
		subj, _ := g.sp.Problem(p.Node)
		data, _ := proto.Marshal(p)
		g.add("absurd-time", subj, data, false)
		s := subjectKinds[kindIndex("sample.container")].valid("bi-absurd-time").(*nwv1.ContainerSamples)
		s.Time = ts
		subj, _ = g.sp.ContainerSamples(s.Node)
		data, _ = proto.Marshal(s)
		g.add("absurd-time", subj, data, false)
	}
}

func kindIndex(name string) int {
	for i, k := range subjectKinds {
		if k.name == name {
			return i
		}
	}
	panic("no subject kind " + name)
}

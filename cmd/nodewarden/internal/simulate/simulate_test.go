package simulate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

func provisioned(t *testing.T) (*testenv.JetStream, jetstream.JetStream) {
	t.Helper()
	srv := testenv.StartJetStream(t)
	_, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := topology.Provision(ctx, js, topology.DefaultSettings(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return srv, js
}

// subjectCounts is how many messages each subject of a stream holds.
func subjectCounts(t *testing.T, js jetstream.JetStream, stream string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Subjects
}

type stored struct {
	subj, id string
	msg      proto.Message
}

// readAll decodes every message of a stream, in order, as a consumer would with schema.
func readAll(t *testing.T, js jetstream.JetStream, stream string) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var all []stored
	for seq := st.CachedInfo().State.FirstSeq; seq <= st.CachedInfo().State.LastSeq; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("%s message %d: %v", stream, seq, err)
		}
		m, err := schema.Decode(subject.Space{}, raw.Subject, raw.Data)
		if err != nil {
			t.Fatalf("%s message %d: %v", stream, seq, err)
		}
		all = append(all, stored{raw.Subject, raw.Header.Get(jetstream.MsgIDHeader), m})
	}
	return all
}

// One run of 3 nodes × 5 containers puts every kind of message of every node in the streams,
// decodable, with consecutive sequences and the message ids the proto comments define; a match
// rate of 1 makes every log line one a kernel-monitor rule matches, 0 none.
func TestRunFillsTheStreams(t *testing.T) {
	rm := newRuleMatcher(kernelMonitor(t))
	for _, tt := range []struct {
		name      string
		matchRate float64
	}{{"every line matches", 1}, {"no line matches", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			srv, js := provisioned(t)
			c := defaults(t)
			c.NATS.URL, c.Nodes, c.Containers, c.Interval = srv.URL(), 3, 5, 300*time.Millisecond
			c.LogRate, c.MatchRate, c.UnhealthyRate, c.Seed, c.Log.Level = 20, tt.matchRate, 0, 7, "error"
			var out strings.Builder
			c.Stdout = &out
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- Run(ctx, c) }()

			names := []string{"sim-node-0001", "sim-node-0002", "sim-node-0003"}
			sp := subject.Space{}
			testenv.WaitFor(t, 20*time.Second, "two intervals of every node in SAMPLES and LOGS", func() bool {
				samples, logs := subjectCounts(t, js, topology.StreamSamples), subjectCounts(t, js, topology.StreamLogs)
				for _, n := range names {
					ns, _ := sp.NodeSample(n)
					cs, _ := sp.ContainerSamples(n)
					h, _ := sp.Health(n)
					l, _ := sp.Log(kernelSource, n)
					if samples[ns] < 2 || samples[cs] < 2 || samples[h] < 4 || logs[l] < 3 {
						return false
					}
				}
				return true
			})
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			if m := doneLine.FindStringSubmatch(out.String()); m == nil || m[3] != "0" {
				t.Fatalf("final summary missing or with errors:\n%s", out.String())
			}

			ids := map[string]bool{}
			seqs := map[string][]uint64{} // kind/node(/component) -> seqs in stream order
			nextLine := map[string]uint64{}
			streamIDs := map[string]string{}
			lines, matched := 0, 0
			for _, s := range append(readAll(t, js, topology.StreamSamples), readAll(t, js, topology.StreamLogs)...) {
				if s.id == "" || ids[s.id] {
					t.Fatalf("%s: message id %q empty or repeated", s.subj, s.id)
				}
				ids[s.id] = true
				switch m := s.msg.(type) {
				case *nwv1.NodeSample:
					checkID(t, s.id, "sample.node", m.Node, m.CollectorStart.AsTime(), m.Seq)
					if m.Cpu.GetCores() == 0 || len(m.Filesystems) == 0 || len(m.Networks) == 0 || !uuidRE.MatchString(m.BootId) {
						t.Fatalf("thin node sample %v", m)
					}
					seqs["node/"+m.Node] = append(seqs["node/"+m.Node], m.Seq)
				case *nwv1.ContainerSamples:
					checkID(t, s.id, "sample.container", m.Node, m.CollectorStart.AsTime(), m.Seq)
					if len(m.Containers) != 5 || len(m.Pods) == 0 {
						t.Fatalf("%s: %d containers, %d pods", m.Node, len(m.Containers), len(m.Pods))
					}
					seqs["container/"+m.Node] = append(seqs["container/"+m.Node], m.Seq)
				case *nwv1.HealthReport:
					if !m.Healthy {
						t.Fatalf("unhealthy report at unhealthy rate 0: %v", m)
					}
					if want := "health:" + m.Node + ":" + m.Component + ":"; !strings.HasPrefix(s.id, want) || !strings.HasSuffix(s.id, ":"+strconv.FormatUint(m.Seq, 10)) {
						t.Fatalf("health id %q", s.id)
					}
					seqs["health/"+m.Node+"/"+m.Component] = append(seqs["health/"+m.Node+"/"+m.Component], m.Seq)
				case *nwv1.LogBatch:
					if want := "log:" + m.Node + ":" + kernelSource + ":" + m.StreamId + ":" + strconv.FormatUint(m.FirstSeq, 10); s.id != want {
						t.Fatalf("log id %q, want %q", s.id, want)
					}
					if prev, ok := streamIDs[m.Node]; ok && prev != m.StreamId || !strings.HasPrefix(m.StreamId, "kmsg:") {
						t.Fatalf("%s: stream id %q after %q", m.Node, m.StreamId, prev)
					}
					streamIDs[m.Node] = m.StreamId
					if next, ok := nextLine[m.Node]; ok && m.FirstSeq != next {
						t.Fatalf("%s: batch starts at %d, want %d", m.Node, m.FirstSeq, next)
					}
					for i, l := range m.Lines {
						if l.Seq != m.FirstSeq+uint64(i) {
							t.Fatalf("%s: line %d has seq %d in a batch from %d", m.Node, i, l.Seq, m.FirstSeq)
						}
						if len(rm.matches(l.Message)) > 0 {
							matched++
						} else if rm.unanchored(l.Message) {
							t.Fatalf("a rule matches %q only unanchored", l.Message)
						}
					}
					lines += len(m.Lines)
					nextLine[m.Node] = m.FirstSeq + uint64(len(m.Lines))
				default:
					t.Fatalf("unexpected %T on %s", m, s.subj)
				}
			}
			if len(seqs) != 3*4 {
				t.Fatalf("sequences of %d node/kinds, want 12: %v", len(seqs), seqs)
			}
			for k, ss := range seqs {
				for i, s := range ss {
					if s != uint64(i+1) {
						t.Fatalf("%s: seqs %v, want 1, 2, 3...", k, ss)
					}
				}
			}
			if want := map[float64]int{1: lines, 0: 0}[tt.matchRate]; lines == 0 || matched != want {
				t.Fatalf("%d of %d lines match a kernel-monitor rule at match rate %v", matched, lines, tt.matchRate)
			}
		})
	}
}

func checkID(t *testing.T, id, kind, node string, start time.Time, seq uint64) {
	t.Helper()
	want := kind + ":" + node + ":" + strconv.FormatInt(start.UnixNano(), 10) + ":" + strconv.FormatUint(seq, 10)
	if id != want {
		t.Fatalf("message id %q, want %q", id, want)
	}
}

// Without provisioned streams, Run fails at once naming the stream; it does not wait.
func TestRunFailsWithoutStreams(t *testing.T) {
	srv := testenv.StartJetStream(t)
	c := defaults(t)
	c.NATS.URL, c.Log.Level = srv.URL(), "error"
	start := time.Now()
	err := Run(context.Background(), c)
	if !errors.Is(err, topology.ErrMissing) || !strings.Contains(err.Error(), "stream SAMPLES") {
		t.Fatalf("Run = %v, want a missing SAMPLES stream", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s to fail", took)
	}
}

func TestRunGivesUpOnUnreachableNATS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := defaults(t)
	c.NATS.URL, c.Timeout, c.Log.Level = "nats://"+addr, 300*time.Millisecond, "error"
	err = Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "cannot reach NATS at nats://"+addr) {
		t.Fatalf("Run = %v", err)
	}
}

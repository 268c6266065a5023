package detector_test

import (
	"context"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/detector"
)

var sp = subject.Space{Prefix: "nw"}

// bus records problems and reboot requests as they are published.
type bus struct {
	mu       sync.Mutex
	problems []*nwv1.Problem
	reboots  []*nwv1.RebootRequired
}

func watch(t *testing.T, nc *nats.Conn) *bus {
	b := &bus{}
	for _, filter := range []string{sp.All("problem"), sp.All("reboot.required")} {
		sub, err := nc.Subscribe(filter, func(m *nats.Msg) {
			pm, err := schema.Decode(sp, m.Subject, m.Data)
			if err != nil {
				t.Errorf("%s: %v", m.Subject, err)
				return
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			switch v := pm.(type) {
			case *nwv1.Problem:
				b.problems = append(b.problems, v)
			case *nwv1.RebootRequired:
				b.reboots = append(b.reboots, v)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bus) find(keep func(*nwv1.Problem) bool) []*nwv1.Problem {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*nwv1.Problem
	for _, p := range b.problems {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// logger publishes one node's kernel lines as the collector does.
type logger struct {
	js     jetstream.JetStream
	node   string
	source string
	seq    uint64
}

func (l *logger) send(t testing.TB, lines ...string) {
	t.Helper()
	b := &nwv1.LogBatch{Node: l.node, Source: l.source, Time: timestamppb.Now(), FirstSeq: l.seq + 1, StreamId: "kmsg:boot-1"}
	for _, s := range lines {
		l.seq++
		b.Lines = append(b.Lines, &nwv1.LogLine{Time: timestamppb.Now(), Seq: l.seq, Priority: 4, Message: s})
	}
	subj, err := sp.Log(l.source, l.node)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := proto.Marshal(b)
	if _, err := l.js.Publish(context.Background(), subj, data, jetstream.WithMsgID(msgid.LogBatch(l.node, l.source, b.StreamId, b.FirstSeq))); err != nil {
		t.Fatal(err)
	}
}

type running struct{ stop func() }

func runDetector(t testing.TB, url string, edit func(*detector.Config)) running {
	t.Helper()
	var cfg detector.Config
	cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError))
	cfg.Common = testenv.Common(url)
	cfg.LeaseTTL = 2 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- detector.Run(ctx, cfg) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("detector Run = %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("detector did not stop within 15s")
		}
	}
	t.Cleanup(stop)
	return running{stop: stop}
}

// Kernel lines in: a temporary problem and a condition change out, within the same second; a
// restart mid-stream repeats no change; a reboot rule asks exactly once.
func TestDetectorEndToEnd(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	nc, js := srv.Connect(t)
	b := watch(t, nc)
	const node = "ip-10-0-0-1.ec2.internal"
	kern := &logger{js: js, node: node, source: "kernel-monitor"}
	reb := &logger{js: js, node: node, source: "kernel-reboot"}

	d := runDetector(t, srv.URL(), func(c *detector.Config) {
		c.Rules = []string{"rules/kernel-monitor.json", "testdata/reboot-monitor.json"}
	})
	kern.send(t, "EXT4-fs (sda1): mounted filesystem with ordered data mode",
		"BUG: unable to handle kernel NULL pointer dereference at 0000000000000008")
	testenv.WaitFor(t, 15*time.Second, "a KernelOops event", func() bool {
		return len(b.find(func(p *nwv1.Problem) bool { return p.Reason == "KernelOops" })) == 1
	})
	ev := b.find(func(p *nwv1.Problem) bool { return p.Reason == "KernelOops" })[0]
	if ev.Kind != nwv1.ProblemKind_PROBLEM_KIND_EVENT || ev.Node != node || ev.Source != "kernel-monitor" ||
		ev.Message != "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008" {
		t.Errorf("event = %v", ev)
	}

	xfs := "XFS (sdb1): Log I/O Error Detected. Shutting down filesystem"
	kern.send(t, xfs)
	isXfs := func(p *nwv1.Problem) bool { return p.Type == "XfsShutdown" }
	testenv.WaitFor(t, 10*time.Second, "XfsShutdown True", func() bool { return len(b.find(isXfs)) == 1 })
	if c := b.find(isXfs)[0]; c.Status != nwv1.ConditionStatus_CONDITION_STATUS_TRUE || c.Reason != "XfsHasShutdown" || c.Message != xfs {
		t.Errorf("condition change = %v", c)
	}
	store, err := conditions.Open(context.Background(), js, topology.BucketConditions)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := store.Get(context.Background(), node, "XfsShutdown")
	if err != nil || st.Status != conditions.True || st.Reason != "XfsHasShutdown" {
		t.Errorf("NW_CONDITIONS XfsShutdown = %+v, %v", st, err)
	}
	if kd, _, err := store.Get(context.Background(), node, "KernelDeadlock"); err != nil || kd.Status != conditions.False || kd.Reason != "KernelHasNoDeadlock" {
		t.Errorf("default condition KernelDeadlock = %+v, %v", kd, err)
	}

	// Restart mid-stream: the same line again, and another oops, after the restart.
	d.stop()
	kern.send(t, xfs, "BUG: unable to handle kernel NULL pointer dereference at 0000000000000010")
	runDetector(t, srv.URL(), func(c *detector.Config) {
		c.Rules = []string{"rules/kernel-monitor.json", "testdata/reboot-monitor.json"}
	})
	testenv.WaitFor(t, 15*time.Second, "the second KernelOops after the restart", func() bool {
		return len(b.find(func(p *nwv1.Problem) bool { return p.Reason == "KernelOops" })) == 2
	})
	if n := len(b.find(isXfs)); n != 1 {
		t.Errorf("XfsShutdown changes after a restart = %d, want still 1", n)
	}

	// A reboot rule: the condition and exactly one request, even when the line repeats.
	hung := "INFO: task docker:1234 blocked for more than 120 seconds."
	reb.send(t, hung)
	reb.send(t, hung)
	testenv.WaitFor(t, 10*time.Second, "a reboot request", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.reboots) >= 1
	})
	kern.send(t, "BUG: unable to handle kernel NULL pointer dereference at 0000000000000018")
	testenv.WaitFor(t, 10*time.Second, "a later event (everything before it evaluated)", func() bool {
		return len(b.find(func(p *nwv1.Problem) bool { return p.Reason == "KernelOops" })) == 3
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reboots) != 1 || b.reboots[0].Reason != "DockerHung" || b.reboots[0].Origin != "detector" {
		t.Errorf("reboot requests = %v, want exactly one for DockerHung", b.reboots)
	}
}

// An OOM kill names its victim: ids from the oom-kill line's cgroup, names from the node's
// latest container sample; the message stays NPD's.
func TestOOMKillNamesThePod(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	nc, js := srv.Connect(t)
	b := watch(t, nc)
	const node = "n1.example"
	const cid = "1f0e4d0f6a2c4b8e9d7c5a3b1e0f2d4c6a8b0c2e4f6a8b0d2c4e6f8a0b2c4d6e"
	const uid = "6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b"
	cs := &nwv1.ContainerSamples{Node: node, Seq: 1, Time: timestamppb.Now(), Containers: []*nwv1.ContainerSample{
		{Id: "other", PodName: "x", Namespace: "y", Name: "z"},
		{Id: cid, PodUid: uid, PodName: "api-7d9f", Namespace: "shop", Name: "java"},
	}}
	subj, _ := sp.ContainerSamples(node)
	data, _ := proto.Marshal(cs)
	if _, err := js.Publish(context.Background(), subj, data); err != nil {
		t.Fatal(err)
	}
	runDetector(t, srv.URL(), nil)
	kill := "Killed process 4711 (java) total-vm:2048000kB, anon-rss:1024000kB, file-rss:0kB, shmem-rss:0kB"
	(&logger{js: js, node: node, source: "kernel-monitor"}).send(t,
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset="+cid+",mems_allowed=0,oom_memcg=/kubepods/burstable/pod"+uid+"/"+cid+",task_memcg=/kubepods/burstable/pod"+uid+"/"+cid+",task=java,pid=4711,uid=1000",
		"Memory cgroup out of memory: Killed process 4711 (java)",
		kill)
	testenv.WaitFor(t, 15*time.Second, "an OOMKilling event", func() bool {
		return len(b.find(func(p *nwv1.Problem) bool { return p.Reason == "OOMKilling" })) > 0
	})
	p := b.find(func(p *nwv1.Problem) bool { return p.Reason == "OOMKilling" })[0]
	if p.Pod != "api-7d9f" || p.Namespace != "shop" || p.Container != "java" || p.PodUid != uid || p.ContainerId != cid || p.Message != kill {
		t.Errorf("OOM problem = %v", p)
	}
}

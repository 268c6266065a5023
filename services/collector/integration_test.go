package collector_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/collector"
)

const testNode = "ip-10-0-0-1.ec2.internal"

// hostRoot assembles a host root from the packages' testdata trees: the cgroup v2 (systemd
// driver) tree with its pods' processes, and a node's /proc.
func hostRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, src := range []string{"cgroups/testdata/v2-systemd", "nodestat/testdata/node"} {
		if err := os.CopyFS(root, os.DirFS(src)); err != nil {
			t.Fatalf("copy %s: %v", src, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev/kmsg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// bus records every message on the prefix, decoded.
type bus struct {
	mu   sync.Mutex
	msgs []proto.Message
}

func watchBus(t *testing.T, nc *nats.Conn) *bus {
	b := &bus{}
	sp := subject.Space{Prefix: "nw"}
	sub, err := nc.Subscribe("nw.>", func(m *nats.Msg) {
		pm, err := schema.Decode(sp, m.Subject, m.Data)
		if err != nil {
			t.Errorf("message on %s does not decode: %v", m.Subject, err)
			return
		}
		b.mu.Lock()
		b.msgs = append(b.msgs, pm)
		b.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return b
}

// find returns the messages of type T for which keep is true.
func find[T proto.Message](b *bus, keep func(T) bool) []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []T
	for _, m := range b.msgs {
		if v, ok := m.(T); ok && keep(v) {
			out = append(out, v)
		}
	}
	return out
}

type running struct {
	base string
	stop func()
}

// start runs the collector until stop, which fails the test unless Run returns nil.
func start(t *testing.T, cfg collector.Config) running {
	t.Helper()
	addr := make(chan string, 1)
	cfg.OnListen = func(_, a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- collector.Run(ctx, cfg) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("collector stopped before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("collector not listening after 10s")
	}
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
				t.Errorf("collector Run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("collector did not stop within 15s")
		}
	}
	t.Cleanup(stop)
	return running{base: base, stop: stop}
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric is the value of one sample line of /metrics (the line's text before the value).
func metric(base, series string) float64 {
	_, body := get(base + "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// kmsgRecord is one /dev/kmsg record dated at, for a host that booted at btime.
func kmsgRecord(seq int, at time.Time, btime int64, msg string) string {
	usec := at.Sub(time.Unix(btime, 0)).Microseconds()
	return fmt.Sprintf("%d,%d,%d,-;%s\n", 4, seq, usec, msg)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func streamCount(t *testing.T, js jetstream.JetStream, stream, subj string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// TestCollectorPublishes runs the collector against a testdata host root and finds everything
// it promises on the bus; then it restarts the collector on the same state and checks that
// neither the kernel lines nor the reboot request are sent twice.
func TestCollectorPublishes(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	nc, js := srv.Connect(t)
	b := watchBus(t, nc)

	kubelet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer kubelet.Close()

	root := hostRoot(t)
	cfg := defaults()
	cfg.Common = testenv.Common(srv.URL())
	cfg.Node = testNode
	cfg.HostRoot = root
	cfg.StateDir = t.TempDir()
	cfg.Interval = 100 * time.Millisecond
	cfg.HealthInterval = 100 * time.Millisecond
	cfg.Period = 50 * time.Millisecond
	cfg.KubeletHealthzURL = kubelet.URL + "/healthz"
	cfg.CRISocket = filepath.Join(root, "run/containerd/containerd.sock") // nothing listens: names stay empty
	cfg.CRITimeout = 200 * time.Millisecond
	c := start(t, cfg)
	testenv.WaitFor(t, 15*time.Second, "/readyz 200", func() bool { code, _ := get(c.base + "/readyz"); return code == 200 })

	testenv.WaitFor(t, 10*time.Second, "a node sample", func() bool {
		return len(find(b, func(s *nwv1.NodeSample) bool { return s.Node == testNode })) > 0
	})
	ns := find(b, func(s *nwv1.NodeSample) bool { return true })[0]
	if ns.BootId != "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b" || ns.Cpu == nil || ns.Cpu.UserSeconds == 0 || ns.Memory == nil ||
		ns.Memory.TotalBytes == 0 || len(ns.Networks) == 0 || len(ns.Filesystems) != 1 || ns.Seq == 0 || ns.CollectorStart == nil {
		t.Errorf("node sample incomplete: %v", ns)
	}

	testenv.WaitFor(t, 10*time.Second, "a container sample", func() bool {
		return len(find(b, func(s *nwv1.ContainerSamples) bool { return s.Node == testNode })) > 0
	})
	cs := find(b, func(s *nwv1.ContainerSamples) bool { return true })[0]
	if len(cs.Containers) != 4 {
		t.Errorf("container sample has %d containers, want the tree's 4: %v", len(cs.Containers), cs)
	}
	for _, ct := range cs.Containers {
		if ct.Id == "" || ct.PodUid == "" || ct.Cpu == nil || ct.Cpu.UsageSeconds == 0 || ct.Name != "" {
			t.Errorf("container %v: want id, pod uid, CPU usage and no names (the CRI socket is dead)", ct)
		}
	}

	testenv.WaitFor(t, 10*time.Second, "a healthy kubelet report", func() bool {
		return len(find(b, func(h *nwv1.HealthReport) bool { return h.Component == "kubelet" && h.Healthy })) > 0
	})
	testenv.WaitFor(t, 10*time.Second, "an unhealthy container runtime report", func() bool {
		return len(find(b, func(h *nwv1.HealthReport) bool { return h.Component == "containerd" && !h.Healthy })) > 0
	})

	// The kernel log: records dated now, after the built-in monitor's 5m lookback.
	const btime = 1764000000 // the testdata /proc/stat's
	kmsgPath := filepath.Join(root, "dev/kmsg")
	now := time.Now()
	appendFile(t, kmsgPath, kmsgRecord(100, now.Add(-time.Hour), btime, "too old: before the lookback")+
		kmsgRecord(101, now, btime, "EXT4-fs (sda1): mounted filesystem")+
		kmsgRecord(102, now, btime, "BUG: unable to handle kernel NULL pointer dereference at 0000000000000000"))
	kernel := func(l *nwv1.LogBatch) bool { return l.Source == "kernel-monitor" && l.Node == testNode }
	lines := func() []string {
		var out []string
		for _, l := range find(b, kernel) {
			for _, ln := range l.Lines {
				out = append(out, ln.Message)
			}
		}
		return out
	}
	testenv.WaitFor(t, 10*time.Second, "a kernel log batch with both recent lines", func() bool { return len(lines()) >= 2 })
	if got := lines(); len(got) != 2 || !strings.HasPrefix(got[1], "BUG: unable") {
		t.Errorf("kernel lines = %q, want the two recent ones", got)
	}

	// The sentinel: nothing until the file exists, then exactly one request.
	checks := func(base string) float64 { return metric(base, `nodewarden_collector_sentinel_total{event="check"}`) }
	testenv.WaitFor(t, 10*time.Second, "sentinel checks", func() bool { return checks(c.base) >= 2 })
	if n := len(find(b, func(*nwv1.RebootRequired) bool { return true })); n != 0 {
		t.Fatalf("%d reboot requests before the sentinel exists", n)
	}
	sentinel := filepath.Join(root, "var/run/reboot-required")
	if err := os.MkdirAll(filepath.Dir(sentinel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sentinel, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "a reboot request", func() bool {
		return len(find(b, func(*nwv1.RebootRequired) bool { return true })) > 0
	})
	after := checks(c.base)
	testenv.WaitFor(t, 10*time.Second, "five more sentinel checks", func() bool { return checks(c.base) >= after+5 })
	reqs := find(b, func(*nwv1.RebootRequired) bool { return true })
	if len(reqs) != 1 || reqs[0].Reason != "sentinel" || reqs[0].BootId != ns.BootId || reqs[0].Node != testNode {
		t.Fatalf("reboot requests = %v, want exactly one for boot %s", reqs, ns.BootId)
	}

	// A restart on the same state sends neither the kernel lines nor the request again.
	c.stop()
	logSubj, _ := subject.Space{Prefix: "nw"}.Log("kernel-monitor", testNode)
	rebootSubj, _ := subject.Space{Prefix: "nw"}.RebootRequired(testNode)
	logsBefore := streamCount(t, js, topology.StreamLogs, logSubj)
	restarted := start(t, cfg)
	testenv.WaitFor(t, 10*time.Second, "the restarted collector's sentinel checks", func() bool { return checks(restarted.base) >= 5 })
	testenv.WaitFor(t, 10*time.Second, "the restarted collector's kmsg reads", func() bool {
		return metric(restarted.base, `nodewarden_collector_log_lines_read_total{source="kernel-monitor"}`) >= 3
	})
	// JetStream's duplicate window would hide a repeat from the stream counts; the restarted
	// collector must not even try.
	if n := metric(restarted.base, `nodewarden_collector_sentinel_total{event="published"}`); n != 0 {
		t.Errorf("the restarted collector published %v reboot requests, want 0", n)
	}
	if n := metric(restarted.base, `nodewarden_collector_log_lines_published_total{source="kernel-monitor"}`); n != 0 {
		t.Errorf("the restarted collector published %v kernel lines again, want 0", n)
	}
	restarted.stop()
	if n := streamCount(t, js, topology.StreamReboot, rebootSubj); n != 1 {
		t.Errorf("REBOOT holds %d requests after a restart, want 1", n)
	}
	if n := streamCount(t, js, topology.StreamLogs, logSubj); n != logsBefore {
		t.Errorf("LOGS holds %d batches after a restart, want the %d from before", n, logsBefore)
	}
}

// The built-in monitor is NPD's kernel-monitor.json, unchanged.
func TestBuiltInMonitorIsNPDs(t *testing.T) {
	want, err := os.ReadFile("../../../shared/compat/npd/kernel-monitor.json")
	if err != nil {
		t.Skipf("compat copy not beside the checkout: %v", err)
	}
	got, err := os.ReadFile("monitors/kernel-monitor.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("monitors/kernel-monitor.json differs from NPD's kernel-monitor.json in ../shared/compat")
	}
}

// Where the kernel log cannot be read, the collector says so in /readyz's detail, stays ready
// and goes on sampling.
func TestUnreadableKernelLogKeepsReady(t *testing.T) {
	srv := testenv.StartJetStream(t)
	srv.Provision(t)
	nc, _ := srv.Connect(t)
	b := watchBus(t, nc)
	root := hostRoot(t)
	if err := os.Remove(filepath.Join(root, "dev/kmsg")); err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Common = testenv.Common(srv.URL())
	cfg.HostRoot, cfg.StateDir, cfg.Interval = root, t.TempDir(), 100*time.Millisecond
	cfg.KubeletHealthzURL, cfg.CRISocket, cfg.RebootSentinel = "", "", ""
	c := start(t, cfg)
	testenv.WaitFor(t, 15*time.Second, "/readyz 200 naming the unreadable kernel log", func() bool {
		code, body := get(c.base + "/readyz")
		return code == 200 && strings.Contains(body, "log kernel-monitor: log unavailable") && strings.Contains(body, "dev/kmsg")
	})
	if v := metric(c.base, `nodewarden_collector_log_readable{source="kernel-monitor"}`); v != 0 {
		t.Errorf("nodewarden_collector_log_readable = %v, want 0", v)
	}
	testenv.WaitFor(t, 10*time.Second, "node samples still flowing", func() bool {
		return len(find(b, func(*nwv1.NodeSample) bool { return true })) >= 2
	})
}

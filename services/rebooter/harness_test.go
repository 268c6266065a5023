package rebooter_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/rebooter"
	"github.com/nodewarden/nodewarden/services/rebooter/reboot"
)

// rebootProgramArg makes the test binary act as the reboot command (see rebootProgram).
const rebootProgramArg = "-nw-test-reboot-program"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == rebootProgramArg {
		os.Exit(rebootProgram(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// rebootProgram is the tests' reboot command, run by the rebooter as an argument vector: it
// logs "<node> start <ns>", takes a moment as a reboot does, gives the node a new boot id,
// logs "<node> end <ns>", and asks the harness to restart the node's rebooter, as the node
// coming back up would. Arguments: log file, node, boot id file, harness URL.
func rebootProgram(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: reboot-program <log> <node> <boot-id-file> <harness-url>")
		return 2
	}
	logPath, node, bootFile, url := args[0], args[1], args[2], args[3]
	if err := appendLine(logPath, fmt.Sprintf("%s start %d\n", node, time.Now().UnixNano())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	time.Sleep(20 * time.Millisecond) // the machine going down and up; long enough to overlap
	if err := os.WriteFile(bootFile, []byte(newBootID()+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := appendLine(logPath, fmt.Sprintf("%s end %d\n", node, time.Now().UnixNano())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp, err := http.Post(url+"/rebooted?node="+node, "text/plain", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = resp.Body.Close()
	return 0
}

// appendLine appends one short line in a single write, which O_APPEND keeps whole between
// concurrent writers.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func newBootID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// harness runs simulated nodes, each with its own rebooter (its own NATS connection; nothing
// shared but the bus), a boot id file and the reboot program as its reboot command.
type harness struct {
	t       *testing.T
	js      *testenv.JetStream
	jsc     jetstream.JetStream
	sp      subject.Space
	dir     string
	logPath string
	srv     *httptest.Server
	base    rebooter.Config

	mu       sync.Mutex
	nodes    map[string]*simNode
	onReboot func(node string) bool // whether to bring the node's rebooter back; default yes
	statuses []*nwv1.RebootStatus
	addrs    map[string]string // node → its rebooter's HTTP address
}

type simNode struct {
	name     string
	bootFile string
	cancel   context.CancelFunc
	done     chan error
}

func newHarness(t *testing.T, configure func(*rebooter.Config)) *harness {
	t.Helper()
	h := &harness{t: t, js: testenv.StartJetStream(t), dir: t.TempDir(), nodes: map[string]*simNode{}, addrs: map[string]string{}}
	h.js.Provision(t)
	_, h.jsc = h.js.Connect(t)
	h.logPath = filepath.Join(h.dir, "reboots.log")
	h.srv = httptest.NewServer(http.HandlerFunc(h.serveRebooted))
	t.Cleanup(h.srv.Close)
	h.base = defaults()
	h.base.Period = time.Second
	if configure != nil {
		configure(&h.base)
	}
	t.Cleanup(h.stopAll)
	h.followStatus()
	return h
}

// serveRebooted is the reboot program's call: the node is back, restart its rebooter. It
// answers at once; the restart waits for the old rebooter, which waits for the program.
func (h *harness) serveRebooted(w http.ResponseWriter, r *http.Request) {
	node := r.URL.Query().Get("node")
	go func() {
		h.stop(node)
		h.mu.Lock()
		f := h.onReboot
		h.mu.Unlock()
		if f == nil || f(node) {
			h.start(node)
		}
	}()
	w.WriteHeader(http.StatusNoContent)
}

// addNode creates a node with a fresh boot id and starts its rebooter.
func (h *harness) addNode(name string) *simNode {
	h.t.Helper()
	n := &simNode{name: name, bootFile: filepath.Join(h.dir, name+".boot_id")}
	if err := os.WriteFile(n.bootFile, []byte(newBootID()+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.nodes[name] = n
	h.mu.Unlock()
	h.start(name)
	return n
}

func (h *harness) config(n *simNode) rebooter.Config {
	cfg := h.base
	cfg.Common = testenv.Common(h.js.ClientURL())
	cfg.Node = n.name
	cfg.Common.OnListen = func(_, addr string) {
		h.mu.Lock()
		h.addrs[n.name] = addr
		h.mu.Unlock()
	}
	cfg.BootID = reboot.BootIDFile(n.bootFile)
	cfg.RebootMethod = rebooter.MethodCommand
	cfg.RebootCommand = strings.Join([]string{os.Args[0], rebootProgramArg, h.logPath, n.name, n.bootFile, h.srv.URL}, " ")
	return cfg
}

// start runs the node's rebooter until stop.
func (h *harness) start(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.nodes[name]
	if n == nil || n.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := h.config(n)
	n.cancel, n.done = cancel, done
	go func() { done <- rebooter.Run(ctx, cfg) }()
}

// stop stops the node's rebooter, as a kill or the node going down would.
func (h *harness) stop(name string) {
	h.mu.Lock()
	n := h.nodes[name]
	if n == nil || n.cancel == nil {
		h.mu.Unlock()
		return
	}
	cancel, done := n.cancel, n.done
	n.cancel, n.done = nil, nil
	h.mu.Unlock()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			h.t.Errorf("rebooter %s: %v", name, err)
		}
	case <-time.After(30 * time.Second):
		h.t.Errorf("rebooter %s did not stop within 30 s", name)
	}
}

func (h *harness) stopAll() {
	h.mu.Lock()
	names := make([]string, 0, len(h.nodes))
	for n := range h.nodes {
		names = append(names, n)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() { h.stop(n) })
	}
	wg.Wait()
}

// metrics returns the node's rebooter's /metrics text ("" while it is not listening).
func (h *harness) metrics(node string) string {
	h.mu.Lock()
	addr := h.addrs[node]
	h.mu.Unlock()
	if addr == "" {
		return ""
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// request publishes a RebootRequired for node, as the collector's sentinel or a rule would.
func (h *harness) request(node, id, condition string) {
	h.t.Helper()
	h.publishRequest(&nwv1.RebootRequired{Node: node, RequestId: id, Reason: "test", Origin: "test", Condition: condition})
}

// requestBoot publishes a RebootRequired made in the given boot.
func (h *harness) requestBoot(node, id, boot string) {
	h.t.Helper()
	h.publishRequest(&nwv1.RebootRequired{Node: node, RequestId: id, Reason: "test", Origin: "test", BootId: boot})
}

func (h *harness) publishRequest(r *nwv1.RebootRequired) {
	h.t.Helper()
	node, id := r.Node, r.RequestId
	subj, err := h.sp.RebootRequired(node)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := proto.Marshal(r)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.jsc.Publish(context.Background(), subj, b, jetstream.WithMsgID(id)); err != nil {
		h.t.Fatalf("publish reboot request for %s: %v", node, err)
	}
}

// followStatus collects every RebootStatus on the bus.
func (h *harness) followStatus() {
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	c, err := h.jsc.OrderedConsumer(ctx, "EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{h.sp.All("reboot.status")}})
	if err != nil {
		h.t.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		var st nwv1.RebootStatus
		if err := proto.Unmarshal(m.Data(), &st); err != nil {
			h.t.Errorf("undecodable status on %s: %v", m.Subject(), err)
			return
		}
		h.mu.Lock()
		h.statuses = append(h.statuses, &st)
		h.mu.Unlock()
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cc.Stop)
}

// phases returns the statuses of node so far.
func (h *harness) phases(node string) []*nwv1.RebootStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*nwv1.RebootStatus
	for _, s := range h.statuses {
		if s.Node == node {
			out = append(out, s)
		}
	}
	return out
}

// has reports whether node published a status of phase whose detail contains text.
func (h *harness) has(node string, phase nwv1.RebootPhase, text string) bool {
	for _, s := range h.phases(node) {
		if s.Phase == phase && strings.Contains(s.Detail, text) {
			return true
		}
	}
	return false
}

// waitStatus waits until node published a status of phase whose detail contains text; on
// timeout the test fails with every status the node published.
func (h *harness) waitStatus(timeout time.Duration, node string, phase nwv1.RebootPhase, text string) {
	h.t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !h.has(node, phase, text) {
		select {
		case <-deadline:
			var b strings.Builder
			for _, s := range h.phases(node) {
				fmt.Fprintf(&b, "\n  %s %s: %s", s.RequestId, s.Phase, s.Detail)
			}
			h.t.Fatalf("timed out after %s waiting for %s %s %q; statuses:%s", timeout, node, phase, text, b.String())
		case <-tick.C:
		}
	}
}

// waitCompleted waits until every node published a completed status.
func (h *harness) waitCompleted(timeout time.Duration, nodes ...string) {
	h.t.Helper()
	testenv.WaitFor(h.t, timeout, fmt.Sprintf("%d nodes completed", len(nodes)), func() bool {
		for _, n := range nodes {
			if !h.has(n, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED, "") {
				return false
			}
		}
		return true
	})
}

// interval is one run of the reboot program.
type interval struct {
	node       string
	start, end int64
}

// reboots reads the reboot program's log.
func (h *harness) reboots() []interval {
	h.t.Helper()
	f, err := os.Open(h.logPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	open := map[string]*interval{}
	var out []interval
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			h.t.Fatalf("bad reboot log line %q", sc.Text())
		}
		ns, err := strconv.ParseInt(fs[2], 10, 64)
		if err != nil {
			h.t.Fatalf("bad reboot log line %q", sc.Text())
		}
		switch fs[1] {
		case "start":
			if open[fs[0]] != nil {
				h.t.Errorf("%s started a reboot while one was running", fs[0])
			}
			open[fs[0]] = &interval{node: fs[0], start: ns}
		case "end":
			iv := open[fs[0]]
			if iv == nil {
				h.t.Fatalf("reboot log: %s ended a reboot it never started", fs[0])
			}
			iv.end = ns
			out = append(out, *iv)
			delete(open, fs[0])
		}
	}
	for n := range open {
		h.t.Errorf("reboot of %s never ended", n)
	}
	return out
}

// maxOverlap is the largest number of reboots running at the same moment.
func maxOverlap(ivs []interval) int {
	type edge struct {
		at    int64
		delta int
	}
	var es []edge
	for _, iv := range ivs {
		es = append(es, edge{iv.start, 1}, edge{iv.end, -1})
	}
	// At equal times an end comes first: touching intervals do not overlap.
	slices.SortFunc(es, func(a, b edge) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.delta - b.delta
	})
	cur, best := 0, 0
	for _, e := range es {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}

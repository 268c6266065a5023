package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/sink/slack/slackfake"
)

// Options choose the parts a scenario needs; the zero value is a provisioned single JetStream
// server and nothing else. Every part runs on loopback and is torn down at the test's end.
type Options struct {
	// Nodes are the simulated nodes' names; each gets a host root and a collector process.
	Nodes []string
	// Cluster runs a 3-server JetStream cluster with every stream replicated 3, instead of
	// one server (fault scenarios).
	Cluster bool

	Influx     bool // InfluxDB 1.8; the sink writes to it
	Prometheus bool // Prometheus scraping every service's /metrics (the sink's exposition too)
	// ScrapeInterval is Prometheus's scrape interval; zero means one second.
	ScrapeInterval time.Duration
	Alertmanager   bool // the alerter posts to it, the rebooters ask it
	Kube           bool // kube-apiserver + a kubelet per node; rebooter and alerter as their RBAC identities
	Slack          bool // slackfake; the sink posts to it

	Detectors int  // detector replicas (0: none)
	Sink      bool // one sink
	Alerter   bool // one alerter
	Rebooters bool // a rebooter per node, rebooting through the reboot program

	// Args are extra flags by service kind ("collector", "detector", "rebooter", "sink",
	// "alerter"), after the harness's own, so a flag given here wins (a repeatable one, such
	// as --alertmanager-url, adds to the harness's).
	Args map[string][]string
	// OnReboot, when set, runs in the reboot program's call before the node "boots" (e.g. to
	// kill something mid-reboot).
	OnReboot func(n *Node)
}

// Env is a running pipeline. Fields are nil for parts the Options left out.
type Env struct {
	T    *testing.T
	Dir  string
	Opts Options

	// NATSURL is the bus's client URL (comma-separated members for a cluster).
	NATSURL string
	JS      *testenv.JetStream // single server
	Cluster *testenv.Cluster   // 3-server cluster

	Influx       *testenv.Influx
	Prom         *testenv.Prometheus
	Alertmanager *testenv.Alertmanager
	Kube         *testenv.Kube
	Slack        *slackfake.Server

	Nodes     []*Node
	Detectors []*Proc
	Sink      *Proc
	Alerter   *Proc

	hook *httptest.Server // the reboot program's callback

	mu        sync.Mutex
	reboots   []Reboot
	logsShown bool
	closing   bool           // teardown began: the reboot hook starts no more processes
	hooks     sync.WaitGroup // the reboot hook's restarts under way
}

// Start starts what opts ask for and waits until every service's /readyz answers 200.
func Start(t *testing.T, opts Options) *Env {
	t.Helper()
	start := time.Now()
	e := &Env{T: t, Dir: t.TempDir(), Opts: opts}
	if opts.Cluster {
		e.Cluster = testenv.StartCluster(t, 3)
		e.NATSURL = e.Cluster.URL()
		code, out, errOut := runBinary(t, nil, "nodewarden", "provision", "--nats-url", e.NATSURL, "--replicas", "3")
		if code != 0 {
			t.Fatalf("provision the cluster: exit %d\n%s\n%s", code, out, errOut)
		}
	} else {
		e.JS = testenv.StartJetStream(t)
		e.JS.Provision(t)
		e.NATSURL = e.JS.ClientURL()
	}
	if opts.Influx {
		e.Influx = testenv.StartInflux(t)
	}
	if opts.Alertmanager {
		e.Alertmanager = testenv.StartAlertmanager(t)
	}
	if opts.Slack {
		e.Slack = slackfake.New()
		t.Cleanup(e.Slack.Close)
	}
	for _, name := range opts.Nodes {
		e.Nodes = append(e.Nodes, newNode(t, e.Dir, name))
	}
	var rebooterKubeconfig, alerterKubeconfig string
	if opts.Kube {
		e.Kube = testenv.StartKube(t)
		for _, n := range e.Nodes {
			e.Kube.Kubelet(t, n.Name)
		}
		rebooterKubeconfig = e.identity(rebooterRole)
		alerterKubeconfig = e.identity(alerterRole)
	}
	if opts.Rebooters {
		e.hook = httptest.NewServer(http.HandlerFunc(e.serveReboot))
		t.Cleanup(e.hook.Close)
	}

	e.defineServices(rebooterKubeconfig, alerterKubeconfig)
	procs := e.Procs()
	if opts.Prometheus {
		targets := make([]string, 0, len(procs))
		for _, p := range procs {
			targets = append(targets, p.Addr)
		}
		e.Prom = testenv.StartPrometheus(t, testenv.PrometheusOptions{ScrapeTargets: targets, ScrapeInterval: opts.ScrapeInterval})
	}
	// Registered after every server's, so it runs before them: services stop while the bus and
	// the outputs are still up, and a failed test gets every log's tail.
	t.Cleanup(e.teardown)
	for _, p := range procs {
		if err := p.start(); err != nil {
			e.Fatalf("start %s: %v", p.Name, err)
		}
	}
	for _, p := range procs {
		if err := p.waitReady(60 * time.Second); err != nil {
			e.Fatalf("%s: %v", p.Name, err)
		}
	}
	if e.Sink != nil {
		e.waitSinkPartitions()
	}
	t.Logf("harness: %d services ready in %s", len(procs), time.Since(start).Round(time.Millisecond))
	return e
}

// waitSinkPartitions waits until the sink holds every partition. Its Prometheus output starts
// its EVENTS reader over, from new messages on, each time it gains one, so a problem published
// while it is still taking them may never reach problem_counter; /readyz does not wait for that.
func (e *Env) waitSinkPartitions() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := topology.Partitions(ctx, e.Bus())
	if err != nil {
		e.Fatalf("partition count: %v", err)
	}
	e.WaitFor(30*time.Second, fmt.Sprintf("the sink to hold all %d partitions", p), func() bool {
		return metricValue(e.Sink.Metrics(), "nodewarden_sink_partitions_held") == float64(p)
	})
}

// metricValue is the value of the unlabelled series name in a /metrics text, or -1.
func metricValue(text, name string) float64 {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// defineServices makes the service processes (not started), so their ports are known before
// Prometheus is configured to scrape them.
func (e *Env) defineServices(rebooterKubeconfig, alerterKubeconfig string) {
	t, o := e.T, e.Opts
	nats := "--nats-url=" + e.NATSURL
	args := func(kind string, base ...string) []string { return append(base, o.Args[kind]...) }
	if o.Sink {
		a := []string{nats, "--replica-id=sink-0", "--sample-interval=5s",
			// Scenarios count Slack messages: no folding into burst summaries unless asked.
			"--slack-burst=100000"}
		if e.Influx != nil {
			a = append(a, "--influx-url="+e.Influx.URL, "--influx-bucket="+e.Influx.Bucket)
		}
		if e.Slack != nil {
			a = append(a, "--slack-webhook-url="+e.Slack.WebhookURL())
		}
		e.Sink = newProc(t, e.Dir, "sink", bin(t, "sink"), args("sink", a...)...)
	}
	for i := range o.Detectors {
		e.Detectors = append(e.Detectors, newProc(t, e.Dir, fmt.Sprintf("detector-%d", i), bin(t, "detector"),
			args("detector", nats, fmt.Sprintf("--replica-id=detector-%d", i))...))
	}
	if o.Alerter {
		a := []string{nats, "--resend-interval=1s"}
		if e.Alertmanager != nil {
			a = append(a, "--alertmanager-url="+e.Alertmanager.URL)
		}
		if alerterKubeconfig != "" {
			a = append(a, "--kubeconfig="+alerterKubeconfig)
		}
		e.Alerter = newProc(t, e.Dir, "alerter", bin(t, "alerter"), args("alerter", a...)...)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("test executable: %v", err)
	}
	for _, n := range e.Nodes {
		n.Collector = newProc(t, e.Dir, "collector/"+n.Name, bin(t, "collector"), args("collector", nats,
			"--node="+n.Name, "--host-root="+n.Root, "--state-dir="+n.StateDir,
			"--cri-socket=", "--kubelet-healthz-url=", "--interval=5s", "--health-interval=5s", "--period=1s")...)
		if !o.Rebooters {
			continue
		}
		a := []string{nats, "--node=" + n.Name, "--boot-id-file=" + n.BootIDFile(), "--period=1s",
			"--reboot-method=command",
			"--reboot-command=" + strings.Join([]string{exe, rebootProgramArg, e.hook.URL, n.Name}, " ")}
		if e.Alertmanager != nil {
			a = append(a, "--alertmanager-url="+e.Alertmanager.URL)
		}
		if rebooterKubeconfig != "" {
			a = append(a, "--kubeconfig="+rebooterKubeconfig)
		}
		n.Rebooter = newProc(t, e.Dir, "rebooter/"+n.Name, bin(t, "rebooter"), args("rebooter", a...)...)
	}
}

// Procs lists every service process, cluster services first.
func (e *Env) Procs() []*Proc {
	var ps []*Proc
	if e.Sink != nil {
		ps = append(ps, e.Sink)
	}
	ps = append(ps, e.Detectors...)
	if e.Alerter != nil {
		ps = append(ps, e.Alerter)
	}
	for _, n := range e.Nodes {
		if n.Collector != nil {
			ps = append(ps, n.Collector)
		}
		if n.Rebooter != nil {
			ps = append(ps, n.Rebooter)
		}
	}
	return ps
}

// Node returns the simulated node called name.
func (e *Env) Node(name string) *Node {
	for _, n := range e.Nodes {
		if n.Name == name {
			return n
		}
	}
	e.Fatalf("no simulated node %q", name)
	return nil
}

func (e *Env) teardown() {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	procs := e.Procs()
	for _, p := range procs {
		if p.crashed() {
			// A service that died on its own is a failure whatever the scenario checked.
			e.T.Errorf("%s exited during the test: %v", p.Name, p.exitErr())
		}
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.Stop)
	}
	wg.Wait()
	e.hooks.Wait() // none may log after the test ends
	for _, p := range procs {
		if err := p.exitErr(); err != nil {
			e.T.Logf("harness: %s exited with %v when stopped", p.Name, err)
		}
	}
	e.mu.Lock()
	shown := e.logsShown
	e.mu.Unlock()
	if e.T.Failed() && !shown {
		e.T.Logf("harness: service logs:%s", e.logTails())
	}
}

// logTails is the end of every service's log, for a failure message.
func (e *Env) logTails() string {
	var b strings.Builder
	for _, p := range e.Procs() {
		state := "running"
		if !p.Running() {
			state = fmt.Sprintf("exited: %v", p.exitErr())
		}
		fmt.Fprintf(&b, "\n--- %s (%s) log ends:\n%s", p.Name, state, p.LogTail())
	}
	return b.String()
}

// Fatalf fails the test with the message and the tail of every service's log.
func (e *Env) Fatalf(format string, args ...any) {
	e.T.Helper()
	e.mu.Lock()
	e.logsShown = true
	e.mu.Unlock()
	e.T.Fatalf(format+"\nservice logs:%s", append(args, e.logTails())...)
}

// WaitFor polls cond until it is true; after timeout the test fails with what it waited for
// and every service's log tail.
func (e *Env) WaitFor(timeout time.Duration, what string, cond func() bool) {
	e.T.Helper()
	if !waitCond(timeout, cond) {
		e.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

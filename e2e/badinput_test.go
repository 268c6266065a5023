package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
)

// While normal traffic flows (nodewarden simulate, a kernel oops on one simulated node, a
// reboot sentinel on another), every subject the services consume receives random bytes,
// truncated protobuf, random payloads just under the server's max payload, payloads naming
// another node or none, and subject tokens that do not decode; each consumer of each of those
// must dead-letter it exactly once (DEAD, with Nw-Original-Subject and Nw-Dead-Reason) and
// count it in nodewarden_dead_letters_total. Messages that decode but are hostile (odd node
// names, 100,000 containers, a 1 MB log line, problem or status; times past year 9999) may be
// processed or rejected. Afterwards every service still runs and is ready, every simulated
// container sample is in InfluxDB, the oops is one problem, and the reboot completed.
func TestBadInput(t *testing.T) {
	const (
		rebootNode = "bi-reboot.e2e.internal"
		kernelNode = "bi-kernel.e2e.internal" // its rebooter gets the bad reboot requests
	)
	var (
		simNodes   = load(5, 20)
		containers = load(10, 30)
		interval   = load(2*time.Second, 5*time.Second)
		duration   = load(16*time.Second, 60*time.Second)
	)
	e := Start(t, Options{
		Nodes: []string{rebootNode, kernelNode}, Influx: true, Alertmanager: true, Slack: true,
		Detectors: 1, Sink: true, Alerter: true, Rebooters: true,
		// The hostile problems become alerts; none of them may hold the reboot.
		Args: map[string][]string{"rebooter": {"--alert-filter-regexp=.*"}},
	})
	statuses := e.FollowRebootStatus()
	nc, err := nats.Connect(e.NATSURL)
	if err != nil {
		e.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js := e.Bus()

	sim := e.simulate(simNodes, containers, interval, duration)
	e.Node(kernelNode).Kmsg(t, 1, oopsLine)
	e.Node(rebootNode).TouchSentinel(t)

	g := &badGen{rnd: rand.New(rand.NewPCG(1, 2)), maxPayload: int(nc.MaxPayload())}
	g.undecodables(kernelNode)
	g.rebootRequests(kernelNode)
	g.hostileValid()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, b := range g.out {
		if b.Dead == b.Valid && b.Kind != "no-request-id" {
			t.Fatalf("bad message %d (%s on %s): dead=%v but decodes=%v", i, b.Kind, b.Subj, b.Dead, b.Valid)
		}
		m := &nats.Msg{Subject: b.Subj, Data: b.Data, Header: nats.Header{}}
		m.Header.Set(badHeader, strconv.Itoa(i))
		m.Header.Set(nats.MsgIdHdr, "e2e-bad-"+strconv.Itoa(i))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			e.Fatalf("publish bad message %d (%s, %d bytes) on %s: %v", i, b.Kind, len(b.Data), b.Subj, err)
		}
	}
	t.Logf("published %d bad messages (%d undecodable) on %d subjects", len(g.out), countDead(g.out), countSubjects(g.out))

	res := <-sim
	if res.err != nil {
		e.Fatalf("simulate: %v", res.err)
	}
	e.WaitFor(60*time.Second, "the reboot of "+rebootNode+" completed", func() bool {
		return statuses.Has(rebootNode, nwv1.RebootPhase_REBOOT_PHASE_COMPLETED)
	})

	// Every consumer dead-letters every undecodable message it reads, once.
	type key struct {
		bad      int
		consumer string
	}
	var dead []deadLetter
	var missing []string
	if !waitCond(60*time.Second, func() bool {
		if dead, err = readDead(js); err != nil {
			t.Logf("%v", err)
			return false
		}
		missing = missing[:0]
		for i, b := range g.out {
			if !b.Dead {
				continue
			}
			for _, c := range consumersOf(b.Subj, kernelNode) {
				if !slices.ContainsFunc(dead, func(d deadLetter) bool { return d.Bad == i && consumerIs(d.Consumer, c) }) {
					missing = append(missing, fmt.Sprintf("%d %s on %s by %s", i, b.Kind, b.Subj, c))
				}
			}
		}
		return len(missing) == 0
	}) {
		e.Fatalf("dead letters missing:\n  %s", strings.Join(missing, "\n  "))
	}
	seen := map[key]int{}
	for _, d := range dead {
		if d.Bad < 0 {
			e.Fatalf("a message the test did not send was dead-lettered by %s: %s (%s)", d.Consumer, d.Original, d.Reason)
		}
		b := g.out[d.Bad]
		seen[key{d.Bad, d.Consumer}]++
		switch {
		case !slices.ContainsFunc(consumersOf(b.Subj, kernelNode), func(c string) bool { return consumerIs(d.Consumer, c) }):
			e.Fatalf("bad message %d on %s dead-lettered by %s, which does not read it", d.Bad, b.Subj, d.Consumer)
		case !originalMatches(d.Original, b.Subj):
			e.Fatalf("dead letter of %d: %s %q, published on %s", d.Bad, "Nw-Original-Subject", d.Original, b.Subj)
		case b.Dead && b.Kind != "no-request-id" && !strings.HasPrefix(d.Reason, "decode: "):
			e.Fatalf("dead letter of %d (%s) by %s: Nw-Dead-Reason %q, want a decode error", d.Bad, b.Kind, d.Consumer, d.Reason)
		case d.Size != len(b.Data) && d.Truncated != strconv.Itoa(len(b.Data)):
			e.Fatalf("dead letter of %d by %s holds %d bytes (%s %q), the message %d", d.Bad, d.Consumer, d.Size,
				consume.HeaderTruncated, d.Truncated, len(b.Data))
		}
	}
	for k, n := range seen {
		if n != 1 {
			e.Fatalf("bad message %d dead-lettered %d times by %s", k.bad, n, k.consumer)
		}
	}
	t.Logf("%d dead letters, all of bad messages", len(dead))

	// The good messages: every simulated container sample, the oops once, the reboot done.
	msgs, points, err := simContainerSamples(js)
	if err != nil {
		e.Fatalf("%v", err)
	}
	if msgs != res.containerMsgs {
		e.Fatalf("SAMPLES holds %d simulated container sample messages, simulate reported %d", msgs, res.containerMsgs)
	}
	const countQ = `SELECT count("cpu_usage_seconds") FROM "container" WHERE "node" =~ /^sim-node-/`
	var inInflux int
	e.WaitFor(60*time.Second, fmt.Sprintf("%d simulated container points in InfluxDB", points), func() bool {
		inInflux = influxCount(e.Influx.Query(t, countQ))
		return inInflux >= points
	})
	if inInflux != points {
		e.Fatalf("InfluxDB holds %d simulated container points, the bus %d", inInflux, points)
	}
	e.WaitFor(30*time.Second, "the oops of "+kernelNode+" in InfluxDB and on Slack", func() bool {
		return len(e.problemPoints(kernelNode, "KernelOops", "event")) > 0 && e.slackHas(kernelNode, "KernelOops")
	})
	if pts := e.problemPoints(kernelNode, "KernelOops", "event"); len(pts) != 1 {
		e.Fatalf("the oops is %d problem points in InfluxDB, want 1", len(pts))
	}
	if rs := e.Reboots(); len(rs) != 1 || rs[0].Node != rebootNode {
		e.Fatalf("reboots %+v, want one of %s (none of %s, whose requests were all bad)", rs, rebootNode, kernelNode)
	}

	// Every service is up and ready, and counted exactly the dead letters DEAD holds for it.
	perConsumer := map[string]int{}
	for _, d := range dead {
		perConsumer[d.Consumer]++
	}
	counted := map[string]int{}
	for _, p := range e.Procs() {
		if !p.Running() {
			e.Fatalf("%s is not running", p.Name)
		}
		if code := httpStatus(p.URL() + "/readyz"); code != http.StatusOK {
			e.Fatalf("%s /readyz: %d", p.Name, code)
		}
		for c, n := range deadCounts(p.Metrics()) {
			counted[c] += n
		}
	}
	for c, n := range perConsumer {
		if counted[c] != n {
			e.Fatalf("consumer %s: nodewarden_dead_letters_total %d, DEAD holds %d of its dead letters (all counted: %v)", c, counted[c], n, counted)
		}
	}
	e.logHostileFate(g.out, dead)
	// Nothing is retried forever: every durable consumer settles every message.
	var backlog string
	if !waitCond(30*time.Second, func() bool { backlog = consumerBacklog(js); return backlog == "" }) {
		e.Fatalf("consumers that do not settle:%s", backlog)
	}
}

// consumerBacklog lists the durable consumers with messages not yet settled: a message a
// service retries forever shows as ack-pending and redelivered.
func consumerBacklog(js jetstream.JetStream) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, st := range []string{"SAMPLES", "LOGS", "EVENTS", "REBOOT", "DETECT"} {
		s, err := js.Stream(ctx, st)
		if err != nil {
			continue
		}
		for c := range s.ListConsumers(ctx).Info() {
			if c.Config.Durable == "" || c.NumAckPending == 0 && c.NumPending == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n  %s/%s: pending %d, ack pending %d, redelivered %d", st, c.Name, c.NumPending, c.NumAckPending, c.NumRedelivered)
		}
	}
	return b.String()
}

// simResult is what `nodewarden simulate` reported.
type simResult struct {
	containerMsgs int
	err           error
}

// simulate runs `nodewarden simulate` in the background and reports its summary when done.
func (e *Env) simulate(nodes, containers int, interval, duration time.Duration) <-chan simResult {
	cmd := exec.Command(bin(e.T, "nodewarden"), "simulate", "--nats-url", e.NATSURL,
		"--nodes", strconv.Itoa(nodes), "--containers", strconv.Itoa(containers),
		"--interval", interval.String(), "--duration", duration.String(),
		"--log-rate", "2", "--seed", "1", "--log-level", "warn")
	cmd.Env = serviceEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	ch := make(chan simResult, 1)
	if err := cmd.Start(); err != nil {
		ch <- simResult{err: err}
		return ch
	}
	e.T.Cleanup(func() { _ = cmd.Process.Kill() })
	go func() {
		err := cmd.Wait()
		m := simulateSummary.FindStringSubmatch(out.String())
		switch {
		case err != nil:
			err = fmt.Errorf("%w\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
		case m == nil || m[2] != "0":
			err = fmt.Errorf("errors or no summary\nstdout:\n%s\nstderr:\n%s", &out, &errOut)
		}
		r := simResult{err: err}
		if m != nil {
			r.containerMsgs, _ = strconv.Atoi(m[3])
		}
		ch <- r
	}()
	return ch
}

// logHostileFate logs what became of each message that decodes: dead-lettered by whom, or
// processed by every consumer.
func (e *Env) logHostileFate(out []badMsg, dead []deadLetter) {
	var b strings.Builder
	for i, m := range out {
		if m.Dead {
			continue
		}
		var by []string
		for _, d := range dead {
			if d.Bad == i {
				by = append(by, d.Consumer+" ("+firstLine(d.Reason)+")")
			}
		}
		fate := "no dead letter"
		if len(by) > 0 {
			fate = "dead-lettered by " + strings.Join(by, ", ")
		}
		fmt.Fprintf(&b, "\n  %.40s %d bytes on %.60s: %s", m.Kind, len(m.Data), m.Subj, fate)
	}
	e.T.Logf("messages that decode:%s", b.String())
}

func firstLine(s string) string {
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return strings.SplitN(s, "\n", 2)[0]
}

func httpStatus(url string) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func countDead(ms []badMsg) int {
	n := 0
	for _, m := range ms {
		if m.Dead {
			n++
		}
	}
	return n
}

func countSubjects(ms []badMsg) int {
	s := map[string]bool{}
	for _, m := range ms {
		s[m.Subj] = true
	}
	return len(s)
}

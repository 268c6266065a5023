package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// probeTimeout is how long one latency probe waits for all three outputs.
const probeTimeout = 20 * time.Second

// latencies of one run of probes: kernel line written → Problem on the bus, → alert visible
// in Alertmanager, → Slack message received; failed counts probes that timed out.
type latencies struct {
	problem, alert, slack []time.Duration
	failed                int
}

// prober writes KernelOops lines, each with its own address as a token, to a simulated node's
// kmsg and times when the Problem, the alert and the Slack message that carry the token appear.
type prober struct {
	e    *Env
	node *Node
	seq  int

	mu       sync.Mutex
	problems map[string]time.Time // token → when the Problem was received
}

func newProber(e *Env, node *Node) *prober {
	p := &prober{e: e, node: node, problems: map[string]time.Time{}}
	nc := e.Bus().Conn()
	var sp subject.Space
	sub, err := nc.Subscribe(sp.All("problem"), func(m *nats.Msg) {
		at := time.Now()
		var pr nwv1.Problem
		if proto.Unmarshal(m.Data, &pr) != nil || pr.GetNode() != node.Name {
			return
		}
		if tok := probeToken(pr.GetMessage()); tok != "" {
			p.mu.Lock()
			if _, seen := p.problems[tok]; !seen {
				p.problems[tok] = at
			}
			p.mu.Unlock()
		}
	})
	if err != nil {
		e.Fatalf("subscribe to problems: %v", err)
	}
	e.T.Cleanup(func() { _ = sub.Unsubscribe() })
	return p
}

// probeLine is the KernelOops line of NPD's kernel-monitor.json with token as its address.
func probeLine(token string) string {
	return "BUG: unable to handle kernel NULL pointer dereference at " + token
}

// probeToken is the address of a probe line in msg ("" when msg is none).
func probeToken(msg string) string {
	const marker = "dereference at 7e57"
	i := strings.Index(msg, marker)
	if i < 0 || len(msg) < i+len(marker)-4+16 {
		return ""
	}
	return msg[i+len(marker)-4 : i+len(marker)-4+16]
}

// run probes one at a time until ctx ends, adding to l.
func (p *prober) run(ctx context.Context, l *latencies) {
	tick := time.NewTicker(500 * time.Millisecond) // paces probes; each waits on its outputs
	defer tick.Stop()
	for ctx.Err() == nil {
		p.once(l)
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// once writes one probe line and waits for its three outputs.
func (p *prober) once(l *latencies) {
	p.seq++
	token := fmt.Sprintf("7e57%012x", uint64(time.Now().UnixNano()&0xffffffff)<<12|uint64(p.seq&0xfff))
	written := time.Now()
	p.node.Kmsg(p.e.T, 1, probeLine(token))
	var problemAt, alertAt, slackAt time.Time
	ok := waitCond(probeTimeout, func() bool {
		if problemAt.IsZero() {
			p.mu.Lock()
			problemAt = p.problems[token]
			p.mu.Unlock()
		}
		// An alert cannot come before its Problem; asking Alertmanager only then keeps the
		// prober's own load on it (each query scans every alert it holds) low.
		if alertAt.IsZero() && !problemAt.IsZero() && p.alertHas(token) {
			alertAt = time.Now()
		}
		if slackAt.IsZero() {
			for _, m := range p.e.Slack.Messages() {
				if strings.Contains(m.Text+" "+m.Header()+" "+strings.Join(m.Sections(), " "), token) {
					slackAt = m.At
					break
				}
			}
		}
		return !problemAt.IsZero() && !alertAt.IsZero() && !slackAt.IsZero()
	})
	if !ok {
		l.failed++
		return
	}
	l.problem = append(l.problem, problemAt.Sub(written))
	l.alert = append(l.alert, alertAt.Sub(written))
	l.slack = append(l.slack, slackAt.Sub(written))
}

// alertHas reports whether an Alertmanager alert of the probe node carries token in its
// description (an event alert's description is the Problem's message).
func (p *prober) alertHas(token string) bool {
	q := url.Values{"filter": {fmt.Sprintf("node=%q", p.node.Name)}}
	resp, err := amClient.Get(p.e.Alertmanager.URL + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false
	}
	var alerts []AMAlert
	if json.Unmarshal(body, &alerts) != nil {
		return false
	}
	for _, a := range alerts {
		if strings.Contains(a.Annotations["description"], token) {
			return true
		}
	}
	return false
}

// rebootLatency is RebootRequired published → the node's reboot program run, through the
// real rebooter process (no alerts, the lock free).
type rebootLatency struct {
	lat []time.Duration
	err string
}

// measureRebootLatency publishes n RebootRequired for one node, each after the previous
// completed (the node rebooted and its rebooter came back), and times each until the reboot
// program ran.
func measureRebootLatency(t *testing.T, quick bool) rebootLatency {
	var r rebootLatency
	ok := t.Run("reboot-latency", func(t *testing.T) {
		const node = "reboot-probe.e2e.internal"
		e := Start(t, Options{Nodes: []string{node}, Rebooters: true})
		statuses := e.FollowRebootStatus()
		js := e.Bus()
		var sp subject.Space
		subj, err := sp.RebootRequired(node)
		if err != nil {
			e.Fatalf("subject: %v", err)
		}
		for i := range load2(quick, 3, 20) {
			id := fmt.Sprintf("bench:%d:%d", time.Now().UnixNano(), i)
			data, _ := proto.Marshal(&nwv1.RebootRequired{Node: node, RequestId: id, Reason: "bench", Origin: "e2e bench"})
			before := len(e.Reboots())
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := js.Publish(ctx, subj, data, jetstream.WithMsgID(id))
			cancel()
			if err != nil {
				e.Fatalf("publish RebootRequired: %v", err)
			}
			e.WaitFor(30*time.Second, "the reboot program to run", func() bool { return len(e.Reboots()) > before })
			r.lat = append(r.lat, e.Reboots()[before].Start.Sub(t0))
			e.WaitFor(60*time.Second, "request "+id+" completed", func() bool {
				for _, s := range statuses.Of(node) {
					if s.GetRequestId() == id && s.GetPhase() == nwv1.RebootPhase_REBOOT_PHASE_COMPLETED {
						return true
					}
				}
				return false
			})
			// The harness restarts the rebooter after each reboot and waits for it to be
			// ready; the next reboot must not kill it before then.
			e.hooks.Wait()
		}
	})
	if !ok {
		r.err = "failed (see the test log)"
	}
	return r
}

func (r rebootLatency) row() row {
	const fig, target = "e2e: RebootRequired published → reboot command (rebooter process)", "p99 <1 s"
	if len(r.lat) == 0 {
		return row{Figure: fig, Value: "no result: " + r.err, Target: target, Met: "n/a"}
	}
	p99 := quantile(r.lat, 0.99)
	return row{Figure: fig, Value: fmt.Sprintf("p50 %s, p99 %s (%d requests)", ms(quantile(r.lat, 0.5)), ms(p99), len(r.lat)),
		Baseline: "kured: up to --period (1 h)", Ratio: ratio(float64(time.Hour), float64(p99), "× sooner"), Target: target, Met: yesNo(p99 < time.Second)}
}

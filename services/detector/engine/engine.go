// Package engine is the detector's evaluation of one partition's nodes: it feeds each node's log
// lines through the NPD rules of their source (matcher), health reports and node samples through
// the health and threshold rules (healthrules), and turns what they find into Problems — events
// for temporary rules, condition changes for permanent ones — and RebootRequired for rules that
// ask for one. Condition state lives in NW_CONDITIONS and is written with compare-and-set after
// the change is published under a deterministic id, so a redelivery, a restart or a partition
// handover re-publishes at most the same message (which JetStream drops as a duplicate) and
// never a second change. One Engine serves one partition from one goroutine.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/services/detector/counter"
	"github.com/nodewarden/nodewarden/services/detector/healthrules"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
	"github.com/nodewarden/nodewarden/services/detector/oomkill"
)

// Publisher publishes with a message id (publish.Publisher fits).
type Publisher interface {
	Publish(ctx context.Context, subj, msgID string, m proto.Message, extra nats.Header) (*jetstream.PubAck, error)
}

// Store is the condition state (conditions.Store fits).
type Store interface {
	Get(ctx context.Context, node, typ string) (conditions.State, uint64, error)
	Put(ctx context.Context, st conditions.State, rev uint64) (uint64, error)
}

// Containers names a node's container by id (the worker asks the node's latest container
// sample); ok is false when it cannot.
type Containers interface {
	Lookup(ctx context.Context, node, containerID string) (pod, namespace, container string, ok bool)
}

// Monitor is one loaded NPD monitor file and its compiled rules.
type Monitor struct {
	File *npdconfig.Monitor
	Set  *matcher.Set
}

// Rules are everything the engine evaluates; they are shared, read-only, by every engine.
type Rules struct {
	Monitors map[string]*Monitor // by source
	Health   *healthrules.Config // nil: no health or threshold rules
	Counters []*counter.File     // NPD log-counter files
}

// Counters the engine keeps for the caller's metrics.
type Counters struct {
	Lines, Events, Changes, Reboots, Gaps, UnknownSources uint64
	// GapsByNode counts lost log lines per node (sequence gaps).
	GapsByNode map[string]uint64
}

// Engine evaluates one partition.
type Engine struct {
	rules *Rules
	sp    subject.Space
	pub   Publisher
	store Store
	log   *slog.Logger
	nodes map[string]*node
	c     Counters
	m     *Metrics // nil: counters only
	// Containers, when set, names the victims of OOM kills.
	Containers Containers
}

// New returns an engine with no node state; state is loaded from the store as nodes appear.
func New(rules *Rules, sp subject.Space, pub Publisher, store Store, m *Metrics, log *slog.Logger) *Engine {
	return &Engine{rules: rules, sp: sp, pub: pub, store: store, log: log, m: m,
		nodes: map[string]*node{}, c: Counters{GapsByNode: map[string]uint64{}}}
}

// Counts returns the counters (not safe to call concurrently with Handle).
func (e *Engine) Counts() Counters { return e.c }

type node struct {
	name   string
	bootID string
	logs   map[string]*logState
	health *healthrules.Node
	conds  map[string]*cond
	inited map[string]bool // sources (and "health") whose default conditions exist
	// pending are changes the rules made that are not yet published and recorded; they go
	// first on the next call (the retry of the message that made them), see flush.
	pending  []change
	counters []*counter.Node
	// clears are the True conditions that clear by themselves (clearAfter), by type.
	clears map[string]clearEntry
}

type clearEntry struct {
	at              time.Time
	source          string
	reason, message string // the file's default (False) reason and message
}

type logState struct {
	buf    *matcher.Buffer
	stream string
	last   uint64 // last line fully handled
	have   bool
	// pending are the matches of line pendingSeq not yet handled when a publish failed; a retry
	// handles them instead of pushing the line into the buffer twice.
	pending    []matcher.Match
	pendingSeq uint64
	// oom is the victim of the last oom-kill summary line, at sequence oomSeq: the "Killed
	// process" line NPD's OOMKilling rule matches follows it.
	oom    *oomkill.Victim
	oomSeq uint64
}

type cond struct {
	st  conditions.State
	rev uint64
}

func (e *Engine) node(name string) *node {
	n := e.nodes[name]
	if n == nil {
		n = &node{name: name, logs: map[string]*logState{}, conds: map[string]*cond{}, inited: map[string]bool{}}
		e.nodes[name] = n
	}
	return n
}

// Handle evaluates one message of the partition. An error means nothing after the point of
// failure was done; calling Handle again with the same message resumes there.
func (e *Engine) Handle(ctx context.Context, m proto.Message) error {
	switch v := m.(type) {
	case *nwv1.LogBatch:
		return e.handleLog(ctx, v)
	case *nwv1.HealthReport:
		return e.handleHealth(ctx, v)
	case *nwv1.NodeSample:
		return e.handleSample(ctx, v)
	default:
		return fmt.Errorf("engine: unexpected %T", m)
	}
}

func (e *Engine) handleLog(ctx context.Context, b *nwv1.LogBatch) error {
	mon := e.rules.Monitors[b.Source]
	counted := e.counted(b.Source)
	if mon == nil && !counted {
		e.c.UnknownSources++
		if e.m != nil {
			e.m.UnknownSources.Inc()
		}
		return nil // no rules for this source: nothing to detect
	}
	n := e.node(b.Node)
	if err := e.flush(ctx, n); err != nil {
		return err
	}
	if mon != nil {
		if err := e.initConditions(ctx, n, b.Source, fileConditions(mon.File)); err != nil {
			return err
		}
	}
	ls := n.logs[b.Source]
	if ls == nil || ls.stream != b.StreamId {
		var buf *matcher.Buffer
		if mon != nil {
			buf = mon.Set.NewBuffer()
		}
		// A new stream (a new boot, or a collector without state) starts a fresh buffer, as a
		// restarted NPD does; its sequences are not comparable with the old stream's.
		ls = &logState{buf: buf, stream: b.StreamId}
		n.logs[b.Source] = ls
		if boot, ok := strings.CutPrefix(b.StreamId, "kmsg:"); ok && n.bootID == "" {
			n.bootID = boot
		}
	}
	if ls.have && b.FirstSeq > ls.last+1 {
		lost := b.FirstSeq - ls.last - 1
		e.c.Gaps += lost
		e.c.GapsByNode[b.Node] += lost
		if e.m != nil {
			e.m.Gaps.WithLabelValues(b.Node).Add(float64(lost))
		}
	}
	var matches []matcher.Match
	for i, l := range b.Lines {
		seq := l.Seq
		if seq == 0 {
			seq = b.FirstSeq + uint64(i)
		}
		if ls.have && seq <= ls.last {
			continue // handled before (a redelivery)
		}
		line := matcher.Line{Seq: seq, Time: l.Time.AsTime(), Message: l.Message}
		if v, ok := oomkill.Parse(l.Message); ok {
			ls.oom, ls.oomSeq = &v, seq
		}
		if len(n.clears) > 0 {
			if err := e.expireClears(ctx, n, line.Time); err != nil {
				return err
			}
		}
		switch {
		case ls.pending != nil && ls.pendingSeq == seq:
			matches = ls.pending
		default:
			e.c.Lines++
			if e.m != nil {
				e.m.Lines.Inc()
			}
			matches = matches[:0]
			if ls.buf != nil {
				matches = ls.buf.Push(line, matches)
			}
		}
		for len(matches) > 0 {
			if err := e.handleMatch(ctx, n, b, ls, seq, &matches[0]); err != nil {
				ls.pending, ls.pendingSeq = append([]matcher.Match(nil), matches...), seq
				return err
			}
			matches = matches[1:]
		}
		ls.pending = nil
		if counted {
			if err := e.observeCounters(ctx, n, b.Source, line); err != nil {
				return err
			}
		}
		// The line is done with; what the counters made of it is queued and published next.
		ls.last, ls.have = seq, true
		if err := e.flush(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) handleMatch(ctx context.Context, n *node, b *nwv1.LogBatch, ls *logState, seq uint64, m *matcher.Match) error {
	r := m.Rule
	at := m.Lines[0].Time
	if r.Type == npdconfig.Temporary {
		ch := change{event: true, reason: r.Reason, message: m.Message, source: b.Source, at: at,
			severity: severity(r.Severity, nwv1.Severity_SEVERITY_WARNING),
			id:       "ev:" + n.name + ":" + b.Source + ":" + b.StreamId + ":" + strconv.FormatUint(seq, 10) + ":" + strconv.Itoa(m.RuleIndex)}
		if ls.oom != nil && seq-ls.oomSeq <= oomDistance && strings.HasPrefix(m.Lines[len(m.Lines)-1].Message, "Killed process") {
			ch.victim = e.victim(ctx, n.name, *ls.oom)
		}
		return e.publishEvent(ctx, n, ch)
	}
	// Permanent: NPD reports a change when the condition was False or had another reason.
	id := "cond:" + n.name + ":" + r.Condition + ":" + b.Source + ":" + b.StreamId + ":" + strconv.FormatUint(seq, 10)
	ch := change{typ: r.Condition, status: true, reason: r.Reason, message: m.Message,
		severity: severity(r.Severity, nwv1.Severity_SEVERITY_WARNING), source: b.Source, at: at, id: id, reboot: r.Reboot}
	if r.ClearAfter > 0 {
		ch.clearAt = m.Lines[len(m.Lines)-1].Time.Add(r.ClearAfter)
	}
	return e.setCondition(ctx, n, ch)
}

// publishEvent publishes a temporary problem.
func (e *Engine) publishEvent(ctx context.Context, n *node, ch change) error {
	p := &nwv1.Problem{Node: n.name, Time: timestamppb.New(ch.at), TransitionTime: timestamppb.New(ch.at), Source: ch.source,
		Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: ch.reason, Message: ch.message, Severity: ch.severity, Id: ch.id}
	if v := ch.victim; v != nil {
		p.PodUid, p.ContainerId, p.Pod, p.Namespace, p.Container = v.PodUid, v.ContainerId, v.Pod, v.Namespace, v.Container
	}
	if err := e.publishProblem(ctx, p); err != nil {
		return err
	}
	e.c.Events++
	if e.m != nil {
		e.m.Events.Inc()
	}
	return nil
}

// change is a condition status to reach.
type change struct {
	typ, reason, message, source, id string
	status, reboot                   bool
	event                            bool          // an event (temporary), not a condition change
	clearAt                          time.Time     // a True set by a rule with clearAfter: when it clears
	victim                           *nwv1.Problem // OOM victim fields to copy (pod_uid ... container)
	severity                         nwv1.Severity
	at                               time.Time
}

// setCondition moves a condition to the change's status (and reason): it publishes the change,
// then records it with compare-and-set. A condition already there is left alone.
func (e *Engine) setCondition(ctx context.Context, n *node, ch change) error {
	// Read the state afresh: an operator (`nodewarden conditions clear`) or a previous holder of
	// the partition may have written since. Matches of permanent rules are rare; this is cheap.
	delete(n.conds, ch.typ)
	c, err := e.cond(ctx, n, ch.typ)
	if err != nil {
		return err
	}
	want := conditions.False
	if ch.status {
		want = conditions.True
	}
	if c.st.Status == want && (c.st.Reason == ch.reason || !ch.status) {
		if ch.status && ch.clearAt.After(c.st.ClearAt) {
			// Already True: a new matching line only moves the clearing later.
			next := c.st
			next.ClearAt, next.Updated = ch.clearAt, time.Now().UTC()
			rev, err := e.store.Put(ctx, next, c.rev)
			if err != nil {
				delete(n.conds, ch.typ)
				return err
			}
			c.st, c.rev = next, rev
			e.noteClear(n, next)
		}
		return nil
	}
	status := nwv1.ConditionStatus_CONDITION_STATUS_FALSE
	if ch.status {
		status = nwv1.ConditionStatus_CONDITION_STATUS_TRUE
	}
	p := &nwv1.Problem{Node: n.name, Time: timestamppb.New(ch.at), Id: ch.id, Source: ch.source,
		Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: ch.typ, Status: status, Reason: ch.reason,
		Message: ch.message, Severity: ch.severity, TransitionTime: timestamppb.New(ch.at)}
	if err := e.publishProblem(ctx, p); err != nil {
		return err
	}
	next := conditions.State{Node: n.name, Type: ch.typ, Status: want, Reason: ch.reason, Message: ch.message,
		Source: ch.source, Severity: severityName(ch.severity), Since: ch.at, Updated: time.Now().UTC(),
		BootID: n.bootID, ProblemID: ch.id, Reboot: ch.reboot && ch.status}
	if ch.status {
		next.ClearAt = ch.clearAt
	}
	rev, err := e.store.Put(ctx, next, c.rev)
	if errors.Is(err, conditions.ErrConflict) {
		// Another replica (the previous holder of this partition) wrote meanwhile: reload; the
		// retry re-evaluates against what it wrote and publishes the same id at most.
		delete(n.conds, ch.typ)
		return err
	}
	if err != nil {
		return err
	}
	c.st, c.rev = next, rev
	e.noteClear(n, next)
	e.c.Changes++
	if e.m != nil {
		e.m.Changes.Inc()
	}
	if ch.reboot && ch.status {
		if err := e.requestReboot(ctx, n, ch); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) requestReboot(ctx context.Context, n *node, ch change) error {
	subj, err := e.sp.RebootRequired(n.name)
	if err != nil {
		return err
	}
	boot := n.bootID
	id := "rule:" + n.name + ":" + ch.typ + ":" + boot
	if boot == "" {
		id = "rule:" + ch.id
	}
	r := &nwv1.RebootRequired{Node: n.name, Time: timestamppb.New(ch.at), RequestId: id, Reason: ch.reason,
		Origin: "detector", BootId: boot, Condition: ch.typ}
	if _, err := e.pub.Publish(ctx, subj, id, r, nil); err != nil {
		return fmt.Errorf("publish reboot request %s: %w", id, err)
	}
	e.c.Reboots++
	if e.m != nil {
		e.m.Reboots.Inc()
	}
	return nil
}

func (e *Engine) publishProblem(ctx context.Context, p *nwv1.Problem) error {
	subj, err := e.sp.Problem(p.Node)
	if err != nil {
		return err
	}
	if _, err := e.pub.Publish(ctx, subj, p.Id, p, nil); err != nil {
		return fmt.Errorf("publish problem %s: %w", p.Id, err)
	}
	return nil
}

// cond returns the cached state of a condition, loading it from the store.
func (e *Engine) cond(ctx context.Context, n *node, typ string) (*cond, error) {
	if c := n.conds[typ]; c != nil {
		return c, nil
	}
	st, rev, err := e.store.Get(ctx, n.name, typ)
	switch {
	case errors.Is(err, conditions.ErrNotFound):
		st = conditions.State{Node: n.name, Type: typ, Status: conditions.False}
	case err != nil:
		return nil, err
	}
	c := &cond{st: st, rev: rev}
	n.conds[typ] = c
	return c, nil
}

// initConditions makes sure a node's default conditions of one rule file exist (False, with
// the file's reason and message), once per process.
func (e *Engine) initConditions(ctx context.Context, n *node, source string, defs []conditions.State) error {
	if n.inited[source] {
		return nil
	}
	for _, d := range defs {
		c, err := e.cond(ctx, n, d.Type)
		if err != nil {
			return err
		}
		if c.rev != 0 {
			e.noteClear(n, c.st)
			continue
		}
		d.Node, d.Status, d.Source, d.Since, d.Updated = n.name, conditions.False, source, time.Now().UTC(), time.Now().UTC()
		rev, err := e.store.Put(ctx, d, 0)
		if errors.Is(err, conditions.ErrConflict) {
			delete(n.conds, d.Type) // written meanwhile: load it next time
			continue
		}
		if err != nil {
			return err
		}
		c.st, c.rev = d, rev
	}
	n.inited[source] = true
	return nil
}

func fileConditions(m *npdconfig.Monitor) []conditions.State {
	out := make([]conditions.State, 0, len(m.Conditions))
	for _, c := range m.Conditions {
		out = append(out, conditions.State{Type: c.Type, Reason: c.Reason, Message: c.Message})
	}
	return out
}

func severity(s string, def nwv1.Severity) nwv1.Severity {
	switch s {
	case "info":
		return nwv1.Severity_SEVERITY_INFO
	case "warning":
		return nwv1.Severity_SEVERITY_WARNING
	case "critical":
		return nwv1.Severity_SEVERITY_CRITICAL
	}
	return def
}

func severityName(s nwv1.Severity) string {
	switch s {
	case nwv1.Severity_SEVERITY_INFO:
		return "info"
	case nwv1.Severity_SEVERITY_CRITICAL:
		return "critical"
	case nwv1.Severity_SEVERITY_WARNING:
		return "warning"
	}
	return ""
}

// noteClear keeps track of a condition that clears by itself (clearAfter) or forgets it.
func (e *Engine) noteClear(n *node, st conditions.State) {
	if st.Status != conditions.True || st.ClearAt.IsZero() {
		delete(n.clears, st.Type)
		return
	}
	def, ok := e.defaultOf(st.Source, st.Type)
	if !ok {
		return
	}
	if n.clears == nil {
		n.clears = map[string]clearEntry{}
	}
	n.clears[st.Type] = clearEntry{at: st.ClearAt, source: st.Source, reason: def.Reason, message: def.Message}
}

func (e *Engine) defaultOf(source, typ string) (npdconfig.Condition, bool) {
	if mon := e.rules.Monitors[source]; mon != nil {
		for _, c := range mon.File.Conditions {
			if c.Type == typ {
				return c, true
			}
		}
	}
	return npdconfig.Condition{}, false
}

// expireClears sets False the conditions whose clearAfter passed by now (the node's clock: the
// time of the line or sample being handled).
func (e *Engine) expireClears(ctx context.Context, n *node, now time.Time) error {
	for typ, ce := range n.clears {
		if now.Before(ce.at) {
			continue
		}
		err := e.setCondition(ctx, n, change{typ: typ, status: false, reason: ce.reason, message: ce.message, source: ce.source,
			at: ce.at, id: "cond:" + n.name + ":" + typ + ":cleared:" + strconv.FormatInt(ce.at.UnixNano(), 10)})
		if err != nil {
			return err
		}
		delete(n.clears, typ)
	}
	return nil
}

// oomDistance is how many lines the "Killed process" line may follow its oom-kill summary line
// (the kernel prints the summary, then the kill, with a few lines between at most).
const oomDistance = 10

// victim fills an OOM victim's fields: ids from its cgroup, names from the node's latest
// container sample when the lookup can find it.
func (e *Engine) victim(ctx context.Context, node string, v oomkill.Victim) *nwv1.Problem {
	p := &nwv1.Problem{PodUid: v.PodUID, ContainerId: v.ContainerID}
	if e.Containers != nil {
		if pod, ns, ctr, ok := e.Containers.Lookup(ctx, node, v.ContainerID); ok {
			p.Pod, p.Namespace, p.Container = pod, ns, ctr
		}
	}
	return p
}

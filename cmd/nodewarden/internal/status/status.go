// Package status is `nodewarden status` and `nodewarden conditions clear`: the first lists every
// node's current conditions from NW_CONDITIONS (node, condition, status, reason, since), like the
// Conditions block of `kubectl describe node` for the whole cluster at once; the second sets a
// condition back to False by hand — for a problem fixed without a reboot, which NPD offers no way
// to clear — publishing the change like the detector would, so alerts resolve.
package status

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/conditions"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Summary is `status`'s help text.
const Summary = "Lists every node's current conditions (node, condition, status, reason, since) from NW_CONDITIONS."

// ClearSummary is `conditions clear`'s help text.
const ClearSummary = "Sets a node's condition to False by hand and publishes the change. Usage: nodewarden conditions clear [flags] <node> <condition>"

// Config is both commands' configuration.
type Config struct {
	NATS         natsconn.Options
	Prefix       string
	Node         string
	ProblemsOnly bool
	Timeout      time.Duration
	Log          daemon.LogOptions
	Stdout       io.Writer
	// Clear's positional arguments.
	Args []string
	// Now is the clock (time.Now).
	Now func() time.Time
}

// AddFlags registers the flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.NATS.AddFlags(fs)
	fs.StringVar(&c.Prefix, "subject-prefix", subject.DefaultPrefix, "first token(s) of every nodewarden subject")
	fs.StringVar(&c.Node, "node", "", "only this node")
	fs.BoolVar(&c.ProblemsOnly, "problems-only", false, "only conditions that are True")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "give up when NATS does not answer within this time")
	c.Log.AddFlags(fs)
	c.Log.Format = "text"
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if err := subject.ValidatePrefix(c.Prefix); err != nil {
		return config.Invalid("subject-prefix", c.Prefix, "%v", err)
	}
	if c.Timeout <= 0 {
		return config.Invalid("timeout", c.Timeout, "must be positive")
	}
	return c.Log.Validate()
}

// SplitArgs moves positional arguments out of args into cfg.Args.
func SplitArgs(args []string, cfg *Config) []string {
	flags, pos := config.SplitPositional(args, "problems-only")
	cfg.Args = pos
	return flags
}

type session struct {
	store *conditions.Store
	js    jetstream.JetStream
	close func()
}

func open(ctx context.Context, c Config) (*session, error) {
	log := c.Log.New(io.Discard)
	if c.Log.Level == "debug" {
		log = c.Log.New(c.Stdout)
	}
	nc, err := natsconn.Connect(c.NATS, "nodewarden-status", log, natsconn.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	store, err := conditions.Open(ctx, js, topology.BucketConditions)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w (is NATS at %s reachable and provisioned?)", err, c.NATS.URL)
	}
	return &session{store: store, js: js, close: nc.Close}, nil
}

// Run prints the conditions.
func Run(ctx context.Context, c Config) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	s, err := open(ctx, c)
	if err != nil {
		return err
	}
	defer s.close()
	all, err := s.store.List(ctx, c.Node)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCONDITION\tSTATUS\tREASON\tSINCE\tMESSAGE")
	now := c.Now()
	for _, st := range all {
		if c.ProblemsOnly && st.Status != conditions.True {
			continue
		}
		since := "-"
		if !st.Since.IsZero() {
			since = st.Since.UTC().Format(time.RFC3339) + " (" + ago(now.Sub(st.Since)) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Node, st.Type, st.Status, st.Reason, since, oneLine(st.Message, 80))
	}
	return tw.Flush()
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d ago"
}

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ⏎ ")
	if len([]rune(s)) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// Clear sets <node> <condition> to False and publishes the change.
func Clear(ctx context.Context, c Config) error {
	if len(c.Args) != 2 {
		return &config.Error{Reason: fmt.Sprintf("want <node> <condition>, got %d arguments", len(c.Args))}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	node, typ := c.Args[0], c.Args[1]
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	s, err := open(ctx, c)
	if err != nil {
		return err
	}
	defer s.close()
	st, rev, err := s.store.Get(ctx, node, typ)
	if errors.Is(err, conditions.ErrNotFound) {
		return fmt.Errorf("node %s has no condition %s", node, typ)
	}
	if err != nil {
		return err
	}
	if st.Status != conditions.True {
		fmt.Fprintf(c.Stdout, "%s %s is already %s (%s)\n", node, typ, st.Status, st.Reason)
		return nil
	}
	now := c.Now().UTC()
	id := "cond:" + node + ":" + typ + ":clear:" + strconv.FormatUint(rev, 10)
	p := &nwv1.Problem{Node: node, Time: timestamppb.New(now), Id: id, Source: st.Source,
		Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: typ, Status: nwv1.ConditionStatus_CONDITION_STATUS_FALSE,
		Reason: "ClearedByOperator", Message: "cleared with nodewarden conditions clear", TransitionTime: timestamppb.New(now)}
	subj, err := subject.Space{Prefix: c.Prefix}.Problem(node)
	if err != nil {
		return err
	}
	if _, err := publish.New(s.js, prometheus.NewRegistry()).Publish(ctx, subj, id, p, nil); err != nil {
		return fmt.Errorf("publish the change: %w", err)
	}
	next := st
	next.Status, next.Reason, next.Message, next.Since, next.Updated, next.ProblemID, next.Reboot = conditions.False, p.Reason, p.Message, now, now, id, false
	if _, err := s.store.Put(ctx, next, rev); err != nil {
		return fmt.Errorf("record the change (the detector changed it meanwhile? run status again): %w", err)
	}
	fmt.Fprintf(c.Stdout, "%s %s set to False (was %s since %s)\n", node, typ, st.Reason, st.Since.UTC().Format(time.RFC3339))
	return nil
}

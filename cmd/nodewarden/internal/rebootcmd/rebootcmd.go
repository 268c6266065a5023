// Package rebootcmd is `nodewarden reboot <node>`: the operator's way to ask for a reboot. It
// publishes a RebootRequired (origin "cli") on the node's reboot subject, as the collector's
// sentinel and the detector's rules do, so the rebooter treats it like any other request: in its
// window, under the lock, never while an alert fires. With --wait it then follows the node's
// RebootStatus messages until the reboot completes (exit 0) or fails (exit 1).
package rebootcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/msgid"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/publish"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Summary is the command's help text.
const Summary = "Asks the rebooter to reboot a node and prints the request id; with --wait, follows the reboot " +
	"until it completes (exit 0) or fails (exit 1). Usage: nodewarden reboot [flags] <node>"

// DefaultReason is the reason a request carries when --reason is not given.
const DefaultReason = "requested with nodewarden reboot"

// ErrFailed is returned when the rebooter reports the reboot failed.
var ErrFailed = errors.New("reboot failed")

// Config is the command's configuration.
type Config struct {
	NATS      natsconn.Options
	Prefix    string
	RequestID string
	Reason    string
	BootID    string
	Wait      bool
	// Timeout bounds the wait for the outcome (zero waits forever); PublishTimeout bounds
	// connecting and publishing the request.
	Timeout        time.Duration
	PublishTimeout time.Duration
	Log            daemon.LogOptions
	Stdout         io.Writer
	// Args are the positional arguments: the node.
	Args []string
	// Now is the clock (time.Now).
	Now func() time.Time
}

// AddFlags registers the flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.NATS.AddFlags(fs)
	fs.StringVar(&c.Prefix, "subject-prefix", subject.DefaultPrefix, "first token(s) of every nodewarden subject")
	fs.StringVar(&c.RequestID, "request-id", "", "the request's id (also its message id, so a repeated id is stored once); empty = cli:<node>:<unix nanos>")
	fs.StringVar(&c.Reason, "reason", DefaultReason, "why the node should reboot, shown in its reboot status")
	fs.StringVar(&c.BootID, "boot-id", "", "reboot only if the node is still in this boot; empty = whatever boot it is in when the rebooter records the request")
	fs.BoolVar(&c.Wait, "wait", false, "follow the node's reboot status until it completes (exit 0) or fails (exit 1)")
	fs.DurationVar(&c.Timeout, "timeout", 0, "with --wait: give up waiting after this long (exit 1); 0 = wait forever")
	fs.DurationVar(&c.PublishTimeout, "publish-timeout", 10*time.Second, "give up when NATS does not take the request within this time")
	c.Log.AddFlags(fs)
	c.Log.Format = "text"
}

// Validate checks the configuration, the node included.
func (c *Config) Validate() error {
	if err := c.NATS.Validate(); err != nil {
		return err
	}
	if err := subject.ValidatePrefix(c.Prefix); err != nil {
		return config.Invalid("subject-prefix", c.Prefix, "%v", err)
	}
	if strings.TrimSpace(c.Reason) == "" {
		return config.Invalid("reason", c.Reason, "must not be empty: the reason is all an operator sees of why a node rebooted")
	}
	if c.Timeout < 0 {
		return config.Invalid("timeout", c.Timeout, "must not be negative (0 waits forever)")
	}
	if c.PublishTimeout <= 0 {
		return config.Invalid("publish-timeout", c.PublishTimeout, "must be positive")
	}
	if _, err := c.node(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// SplitArgs moves positional arguments out of args into cfg.Args.
func SplitArgs(args []string, cfg *Config) []string {
	flags, pos := config.SplitPositional(args, "wait")
	cfg.Args = pos
	return flags
}

// Main runs the command with its arguments and returns the exit status: 0, 1 for a failure (the
// reboot's included), 2 for bad configuration.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := Config{Stdout: stdout}
	return daemon.Execute(ctx, "nodewarden reboot", Summary, SplitArgs(args, &cfg), stdout, stderr, &cfg,
		func(ctx context.Context) error { return Run(ctx, cfg) })
}

func (c *Config) node() (string, error) {
	if len(c.Args) != 1 {
		return "", &config.Error{Reason: fmt.Sprintf("want one <node> to reboot, got %d arguments (usage: nodewarden reboot [flags] <node>)", len(c.Args))}
	}
	if err := daemon.ValidateNode(c.Args[0]); err != nil {
		return "", err
	}
	return c.Args[0], nil
}

// Run publishes the request, prints its id and, with Wait, follows the node's reboot status.
func Run(ctx context.Context, c Config) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	node, err := c.node()
	if err != nil {
		return err
	}
	sp := subject.Space{Prefix: c.Prefix}
	reqSubj, err := sp.RebootRequired(node)
	if err != nil {
		return err
	}
	statusSubj, err := sp.RebootStatus(node)
	if err != nil {
		return err
	}
	nc, err := natsconn.Connect(c.NATS, "nodewarden-reboot", c.Log.New(io.Discard), natsconn.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	now := c.Now()
	id := c.RequestID
	if id == "" {
		id = "cli:" + node + ":" + strconv.FormatInt(now.UnixNano(), 10)
	}
	req := &nwv1.RebootRequired{Node: node, Time: timestamppb.New(now), RequestId: id, Reason: c.Reason,
		Origin: "cli", BootId: c.BootID}
	pctx, cancel := context.WithTimeout(ctx, c.PublishTimeout)
	defer cancel()
	if err := connected(pctx, nc); err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", c.NATS.URL, err)
	}
	// Statuses are followed from just before the publish: the rebooter may answer before the
	// consumer exists. (Stored times are the server's; a client clock far ahead could skip some.)
	since := time.Now()
	if _, err := publish.New(js, prometheus.NewRegistry()).Publish(pctx, reqSubj, msgid.RebootRequired(id), req, nil); err != nil {
		return fmt.Errorf("request a reboot of %s: %w (is NATS at %s reachable and provisioned?)", node, err, c.NATS.URL)
	}
	fmt.Fprintln(c.Stdout, id)
	if !c.Wait {
		return nil
	}
	if c.Timeout > 0 {
		var wcancel context.CancelFunc
		ctx, wcancel = context.WithTimeout(ctx, c.Timeout)
		defer wcancel()
	}
	return follow(ctx, c.Stdout, js, statusSubj, since)
}

// connected waits for the first connection: natsconn connects in the background, and a publish
// before it fails with a misleading error instead of waiting.
func connected(ctx context.Context, nc *nats.Conn) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// follow prints every RebootStatus on subj stored since start until the first that ends a
// reboot. It stops at any COMPLETED or FAILED, not only this request's: a request the rebooter
// merged into a pending one is reported under that one's id.
func follow(ctx context.Context, w io.Writer, js jetstream.JetStream, subj string, start time.Time) error {
	cons, err := js.OrderedConsumer(ctx, topology.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start})
	if err != nil {
		return fmt.Errorf("follow %s: %w", subj, err)
	}
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("follow %s: %w", subj, err)
	}
	defer iter.Stop()
	for {
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("wait for the reboot: %w", ctx.Err())
			}
			return fmt.Errorf("follow %s: %w", subj, err)
		}
		var st nwv1.RebootStatus
		if err := proto.Unmarshal(msg.Data(), &st); err != nil {
			// Not ours to fix; say so and keep following.
			fmt.Fprintf(w, "undecodable status on %s: %v\n", subj, err)
			continue
		}
		fmt.Fprintln(w, line(&st))
		switch st.Phase {
		case nwv1.RebootPhase_REBOOT_PHASE_COMPLETED:
			return nil
		case nwv1.RebootPhase_REBOOT_PHASE_FAILED:
			return fmt.Errorf("%w: %s (request %s)", ErrFailed, st.Detail, st.RequestId)
		}
	}
}

// line is one status as the operator reads it: time, phase, detail.
func line(st *nwv1.RebootStatus) string {
	at := "-"
	if st.Time != nil {
		at = st.Time.AsTime().UTC().Format(time.RFC3339)
	}
	phase := strings.TrimPrefix(st.Phase.String(), "REBOOT_PHASE_")
	return strings.TrimRight(fmt.Sprintf("%s  %-10s %s", at, phase, st.Detail), " ")
}

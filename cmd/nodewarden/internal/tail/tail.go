// Package tail is `nodewarden tail`: the operator's window into the pipeline. It subscribes to
// the bus (all of it, or one subject) and prints every message decoded, one line each: time,
// subject, type and the fields that matter. Dead letters show their original subject and why.
package tail

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// Summary is the command's help text.
const Summary = "Prints every message on the bus decoded, one line each. Usage: nodewarden tail [flags] [subject]\n" +
	"The subject defaults to everything under the prefix (nw.>); wildcards work, e.g. 'nw.problem.>'."

// Config is the command's configuration.
type Config struct {
	NATS    natsconn.Options
	Prefix  string
	Subject string // positional
	Count   int
	Log     daemon.LogOptions
	Stdout  io.Writer
	// OnSubscribed is called once the subscription is in place (tests).
	OnSubscribed func()
}

// AddFlags registers the flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.NATS.AddFlags(fs)
	fs.StringVar(&c.Prefix, "subject-prefix", subject.DefaultPrefix, "first token(s) of every nodewarden subject")
	fs.IntVar(&c.Count, "count", 0, "exit after this many messages; 0 = run until interrupted")
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
	if c.Count < 0 {
		return config.Invalid("count", c.Count, "must not be negative")
	}
	if strings.ContainsAny(c.Subject, " \t") {
		return &config.Error{Flag: "subject", Value: c.Subject, Reason: "a subject has no whitespace"}
	}
	return c.Log.Validate()
}

// SplitArgs takes the positional subject out of args (first, or after the flags) into cfg.
func SplitArgs(args []string, cfg *Config) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			cfg.Subject = a
			return append(append([]string(nil), args[:i]...), args[i+1:]...)
		}
		if a == "--" {
			if i+1 < len(args) {
				cfg.Subject = args[i+1]
			}
			return args[:i]
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && name != "h" && name != "help" && name != "version" {
			i++ // the flag's value
		}
	}
	return args
}

// Run subscribes and prints until ctx ends or Count messages were printed.
func Run(ctx context.Context, c Config) error {
	log := c.Log.New(os.Stderr)
	out := c.Stdout
	if out == nil {
		out = os.Stdout
	}
	nc, err := natsconn.Connect(c.NATS, "nodewarden-tail", log, natsconn.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return err
	}
	defer nc.Close()
	sp := subject.Space{Prefix: c.Prefix}
	subj := c.Subject
	if subj == "" {
		subj = c.Prefix + ".>"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	n := 0
	sub, err := nc.Subscribe(subj, func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if c.Count > 0 && n >= c.Count {
			return
		}
		fmt.Fprintln(out, Line(sp, m, time.Now()))
		n++
		if c.Count > 0 && n >= c.Count {
			cancel()
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subj, err)
	}
	// The client connects in the background: wait until the server has the subscription, so
	// nothing published after OnSubscribed is missed.
	for attempt := 0; ; attempt++ {
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		err := nc.FlushWithContext(fctx)
		fcancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if attempt == 20 {
			log.Warn("still waiting for the NATS server", "url", c.NATS.URL, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	if c.OnSubscribed != nil {
		c.OnSubscribed()
	}
	<-ctx.Done()
	_ = sub.Unsubscribe()
	return nil
}

// Line formats one message: time, subject, then the decoded summary.
func Line(sp subject.Space, m *nats.Msg, received time.Time) string {
	p, perr := sp.Parse(m.Subject)
	if perr == nil && p.Kind == subject.KindDead {
		return fmt.Sprintf("%s %s DeadLetter original=%s reason=%q bytes=%d", received.UTC().Format(time.RFC3339Nano),
			m.Subject, m.Header.Get(consume.HeaderOriginalSubject), m.Header.Get(consume.HeaderReason), len(m.Data))
	}
	msg, err := schema.Decode(sp, m.Subject, m.Data)
	if err != nil {
		return fmt.Sprintf("%s %s <undecodable: %v> bytes=%d", received.UTC().Format(time.RFC3339Nano), m.Subject, err, len(m.Data))
	}
	t := received
	if ts := messageTime(msg); !ts.IsZero() {
		t = ts
	}
	return fmt.Sprintf("%s %s %s", t.UTC().Format(time.RFC3339Nano), m.Subject, schema.Summary(msg))
}

// messageTime is the message's own time, when it has one.
func messageTime(m proto.Message) time.Time {
	if tm, ok := m.(interface{ GetTime() *timestamppb.Timestamp }); ok && tm.GetTime() != nil {
		return tm.GetTime().AsTime()
	}
	return time.Time{}
}

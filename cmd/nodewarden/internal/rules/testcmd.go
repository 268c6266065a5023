package rules

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// TestConfig is `rules test`'s configuration.
type TestConfig struct {
	Rules  config.StringList
	Node   string
	Format string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// AddFlags registers the flags.
func (c *TestConfig) AddFlags(fs *flag.FlagSet) {
	fs.Var(&c.Rules, "rules", "rule file: NPD system-log-monitor or log-counter JSON (repeatable)")
	fs.StringVar(&c.Node, "node", "test-node", "the node the lines come from, as the detector names it")
	fs.StringVar(&c.Format, "format", FormatAuto, "input lines: "+strings.Join(formats, ", "))
}

// Validate checks the configuration.
func (c *TestConfig) Validate() error {
	if len(c.Rules) == 0 {
		return config.Invalid("rules", "", "name at least one rule file")
	}
	if err := config.OneOf("format", c.Format, formats...); err != nil {
		return err
	}
	if _, err := subject.Encode(c.Node); err != nil {
		return config.Invalid("node", c.Node, "%v", err)
	}
	return nil
}

// maxLine bounds one input line (the kernel's own records are at most 8 KiB; journal entries
// can be longer).
const maxLine = 1 << 20

// Test reads lines from Stdin until it ends (or ctx does), feeds them through the rules and
// prints each problem on Stdout as it is raised; a summary goes to Stderr.
func Test(ctx context.Context, c TestConfig) error {
	var files []*ruleFile
	for _, path := range c.Rules {
		f, err := loadFile(path)
		if err != nil {
			return err
		}
		if f.kind == KindHealth {
			return &config.Error{Flag: "rules", Value: path, Source: "flag", Reason: "health and threshold rules read health " +
				"reports and node samples, not log lines; rules test feeds log lines (check this file with nodewarden rules check)"}
		}
		files = append(files, f)
	}
	ev := newEvaluator(files)
	fmt.Fprintf(c.Stdout, rowFormat, "LINE", "TIME", "KIND", "CONDITION", "STATUS", "REASON", "MESSAGE")

	lines, errc, stop := readLines(c.Stdin)
	defer stop()
	var (
		n, used, skipped, raised int
		last                     = bootEpoch
		style                    stampStyle
		probs                    []problem
	)
	for {
		var text string
		var ok bool
		select {
		case <-ctx.Done():
			c.summary(ev, n, used, skipped, raised, "interrupted")
			return nil
		case text, ok = <-lines:
		}
		if !ok {
			if err := <-errc; err != nil {
				return fmt.Errorf("read stdin after line %d: %w", n, err)
			}
			c.summary(ev, n, used, skipped, raised, "")
			return nil
		}
		n++
		e, use, err := parseLine(c.Format, text)
		if err != nil {
			if skipped++; skipped <= 3 {
				fmt.Fprintf(c.Stderr, "line %d skipped: %v\n", n, err)
			}
			continue
		}
		if !use {
			continue
		}
		used++
		if e.timed {
			last, style = e.t, e.style
		} else {
			e.t = last // plain lines count as at the time of the line before
		}
		probs = ev.feed(matcher.Line{Seq: uint64(used), Time: e.t, Message: e.msg}, probs[:0])
		for _, p := range probs {
			raised++
			shown := "-"
			if e.timed || style != styleNone {
				shown = formatTime(p.at, style)
			}
			cond, status := "-", "-"
			if p.kind != ProblemEvent {
				cond, status = p.condition, "False"
				if p.status {
					status = "True"
				}
			}
			msg := strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(p.message)
			fmt.Fprintf(c.Stdout, rowFormat, fmt.Sprint(n), shown, p.kind, cond, status, p.reason, msg)
		}
	}
}

// rowFormat aligns the columns without buffering the output, so `journalctl -kf | nodewarden
// rules test ...` prints each problem as it happens.
const rowFormat = "%-6s %-15s %-9s %-28s %-6s %-28s %s\n"

func (c *TestConfig) summary(ev *evaluator, n, used, skipped, raised int, how string) {
	trueConds := ev.trueConditions()
	slices.Sort(trueConds)
	s := fmt.Sprintf("node %s: %d lines read, %d evaluated", c.Node, n, used)
	if skipped > 0 {
		s += fmt.Sprintf(", %d skipped (not %s)", skipped, c.Format)
	}
	s += fmt.Sprintf(", %d problems", raised)
	if len(trueConds) > 0 {
		s += "; True at the end: " + strings.Join(trueConds, ", ")
	}
	if how != "" {
		s += " (" + how + ")"
	}
	fmt.Fprintln(c.Stderr, s)
}

// readLines reads r line by line on a goroutine, so that an interrupt ends the test while a
// terminal's read still blocks. The channel closes at the end of r; errc then holds the read
// error or nil. stop lets the goroutine quit once it is not blocked reading.
func readLines(r io.Reader) (lines <-chan string, errc <-chan error, stop func()) {
	out := make(chan string, 256)
	ec := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		for sc.Scan() {
			select {
			case out <- sc.Text():
			case <-done:
				ec <- nil
				return
			}
		}
		ec <- sc.Err()
	}()
	return out, ec, func() { close(done) }
}

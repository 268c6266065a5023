// Package rules is `nodewarden rules`, the rule tools for users: `rules check FILE...` loads
// each rule file as the detector would — NPD system-log-monitor files, NPD log-counter files
// (counter rules) and nodewarden's health and threshold rules — and says "ok" or why not (file,
// rule index and reason, exit 2), refusing NPD's script plugins and system-stats files with the
// nodewarden rules that replace them; `rules test --rules FILE < kern.log` feeds log lines
// through the rules as the detector does for one node and prints the problems they raise;
// `rules defaults` prints the shipped health and threshold rules as a starting point.
package rules

import (
	"context"
	"fmt"
	"io"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/detector/healthrules"
)

// Summary is the command's line in nodewarden's command list.
const Summary = "check rule files (rules check FILE...), test them on log lines (rules test --rules FILE < kern.log), print the default health rules (rules defaults)"

const (
	checkSummary = "Loads each rule file as the detector would and prints \"ok FILE (kind, N rules)\", or why not (exit 2).\n" +
		"Usage: nodewarden rules check [flags] FILE...\n" +
		"Kinds: NPD system-log-monitor files (kernel-monitor.json, ...), NPD log-counter files (kernel-monitor-counter.json,\n" +
		"loaded as counter rules) and nodewarden health/threshold rules (YAML). NPD's custom-plugin scripts and\n" +
		"system-stats files are refused, naming the nodewarden rules that replace them."
	testSummary = "Feeds log lines from stdin through the rules as the detector does for one node and prints the problems they\n" +
		"raise, one per line: input line, time, kind (event, condition, reboot), condition, status, reason and NPD's message.\n" +
		"Usage: nodewarden rules test --rules FILE [--rules FILE2] [--node NAME] [--format FORMAT] < kern.log\n" +
		"Every rule file sees every line as its own source's. Formats: plain (the message), kmsg (/dev/kmsg records\n" +
		"\"pri,seq,usec,flags;message\"), dmesg (\"[  12.345678] message\"), syslog (\"Jan  2 15:04:05 host kernel: message\",\n" +
		"or an RFC 3339 stamp); auto takes each line as whichever it looks like. Lines without a time (plain) count as at\n" +
		"the time of the line before, so counter rules see them all at once."
	defaultsSummary = "Prints the detector's shipped health and threshold rules (YAML): copy, edit, and pass with --health-rules."
)

// Main runs `nodewarden rules <check|test|defaults> [flags]` and returns the exit status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return daemon.ExitConfig
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return daemon.ExitOK
	case "check":
		cfg := CheckConfig{Stdout: stdout, Stderr: stderr}
		return daemon.Execute(ctx, "nodewarden rules check", checkSummary, SplitFiles(rest, &cfg), stdout, stderr, &cfg,
			func(ctx context.Context) error { return Check(ctx, cfg) })
	case "test":
		cfg := TestConfig{Stdin: stdin, Stdout: stdout, Stderr: stderr}
		return daemon.Execute(ctx, "nodewarden rules test", testSummary, rest, stdout, stderr, &cfg,
			func(ctx context.Context) error { return Test(ctx, cfg) })
	case "defaults":
		cfg := noFlags{}
		return daemon.Execute(ctx, "nodewarden rules defaults", defaultsSummary, rest, stdout, stderr, &cfg,
			func(context.Context) error {
				_, err := stdout.Write(healthrules.DefaultYAML())
				return err
			})
	}
	fmt.Fprintf(stderr, "nodewarden rules: unknown subcommand %q\n\n", sub)
	usage(stderr)
	return daemon.ExitConfig
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: nodewarden rules <subcommand> [flags]\n\nSubcommands:\n"+
		"  check     FILE...: load rule files as the detector would; exit 2 naming file, rule and reason if one is bad\n"+
		"  test      --rules FILE < kern.log: print the problems the lines would raise on one node\n"+
		"  defaults  print the shipped health and threshold rules (YAML)\n"+
		"\nRun 'nodewarden rules <subcommand> --help' for its flags.\n")
}

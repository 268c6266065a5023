// Command nodewarden is the all-in-one pipeline and the operator's CLI: `run` starts every
// service against an embedded JetStream server, `provision` creates the streams and buckets,
// `tail` prints the bus decoded, `simulate` publishes synthetic nodes for load, `version` says
// which build this is.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/allinone"
	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/lockcmd"
	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/provision"
	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/rebootcmd"
	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/rules"
	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/simulate"
	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/status"
	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/tail"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/version"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"run": {"run an embedded JetStream server and all five services in one process", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		cfg := allinone.Config{Stdout: stdout}
		return daemon.Execute(ctx, "nodewarden run", allinone.Summary, args, stdout, stderr, &cfg, func(ctx context.Context) error { return allinone.Run(ctx, cfg) })
	}},
	"provision": {"create or update the streams and KV buckets (idempotent)", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		cfg := provision.Config{Stdout: stdout}
		return daemon.Execute(ctx, "nodewarden provision", provision.Summary, args, stdout, stderr, &cfg, func(ctx context.Context) error { return provision.Run(ctx, cfg) })
	}},
	"tail": {"print every message on the bus, decoded, one line each", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		cfg := tail.Config{Stdout: stdout}
		return daemon.Execute(ctx, "nodewarden tail", tail.Summary, tail.SplitArgs(args, &cfg), stdout, stderr, &cfg, func(ctx context.Context) error { return tail.Run(ctx, cfg) })
	}},
	"simulate": {"publish synthetic samples, health reports and kernel logs of N fake nodes (load generator)", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		cfg := simulate.Config{Stdout: stdout}
		return daemon.Execute(ctx, "nodewarden simulate", simulate.Summary, args, stdout, stderr, &cfg, func(ctx context.Context) error { return simulate.Run(ctx, cfg) })
	}},
	"rules": {rules.Summary, func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return rules.Main(ctx, args, os.Stdin, stdout, stderr)
	}},
	"status": {"list every node's current conditions from NW_CONDITIONS", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		cfg := status.Config{Stdout: stdout}
		return daemon.Execute(ctx, "nodewarden status", status.Summary, args, stdout, stderr, &cfg, func(ctx context.Context) error { return status.Run(ctx, cfg) })
	}},
	"conditions": {"conditions clear <node> <condition>: set a condition to False by hand", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		if len(args) == 0 || args[0] != "clear" {
			fmt.Fprintln(stderr, "Usage: nodewarden conditions clear [flags] <node> <condition>")
			return daemon.ExitConfig
		}
		cfg := status.Config{Stdout: stdout}
		return daemon.Execute(ctx, "nodewarden conditions clear", status.ClearSummary, status.SplitArgs(args[1:], &cfg), stdout, stderr, &cfg, func(ctx context.Context) error { return status.Clear(ctx, cfg) })
	}},
	"lock": {"lock status | lock release --force <node>: the rebooters' lock", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		if len(args) == 0 || (args[0] != "status" && args[0] != "release") {
			fmt.Fprintln(stderr, "Usage: nodewarden lock status [flags] | nodewarden lock release --force [flags] <node>")
			return daemon.ExitConfig
		}
		cfg := lockcmd.Config{Stdout: stdout}
		if args[0] == "status" {
			return daemon.Execute(ctx, "nodewarden lock status", lockcmd.StatusSummary, args[1:], stdout, stderr, &cfg, func(ctx context.Context) error { return lockcmd.Status(ctx, cfg) })
		}
		return daemon.Execute(ctx, "nodewarden lock release", lockcmd.ReleaseSummary, lockcmd.SplitArgs(args[1:], &cfg), stdout, stderr, &cfg, func(ctx context.Context) error { return lockcmd.Release(ctx, cfg) })
	}},
	"reboot": {"reboot [--wait] <node>: ask the rebooter to reboot a node", func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return rebootcmd.Main(ctx, args, stdout, stderr)
	}},
	"version": {"print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) int {
		fmt.Fprintln(stdout, version.String("nodewarden"))
		return 0
	}},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: nodewarden <command> [flags]\n\nnodewarden keeps the nodes of a Kubernetes cluster healthy: one event-driven pipeline on NATS JetStream.\n\nCommands:\n")
	for _, name := range []string{"run", "provision", "tail", "simulate", "rules", "status", "conditions", "lock", "reboot", "version"} {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(w, "\nRun 'nodewarden <command> --help' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(daemon.ExitConfig)
	}
	name := os.Args[1]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return
	case "--version", "-version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "nodewarden: unknown command %q\n\n", name)
		usage(os.Stderr)
		os.Exit(daemon.ExitConfig)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.run(ctx, os.Args[2:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

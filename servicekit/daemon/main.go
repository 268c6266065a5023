package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/version"
)

// Configurable is a service's Config: it registers its flags and validates what they hold.
type Configurable interface {
	AddFlags(fs *flag.FlagSet)
	Validate() error
}

// Exit statuses.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitConfig = 2
)

// Main is a service's whole main: parse flags (with NW_ environment fallbacks) into cfg,
// validate, run until SIGINT or SIGTERM, and exit 0, 1 for a failure, or 2 for bad
// configuration.
func Main(name, summary string, cfg Configurable, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Execute(ctx, name, summary, os.Args[1:], os.Stdout, os.Stderr, cfg, run)
	stop()
	os.Exit(code)
}

// Execute is Main without the process around it, for tests and subcommands.
func Execute(ctx context.Context, name, summary string, args []string, stdout, stderr io.Writer,
	cfg Configurable, run func(ctx context.Context) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, below
	showVersion := fs.Bool("version", false, "print the version and exit")
	cfg.AddFlags(fs)
	fromEnv, err := config.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		PrintUsage(stdout, fs, name, summary)
		return ExitOK
	}
	if err == nil && *showVersion {
		fmt.Fprintln(stdout, version.String(name))
		return ExitOK
	}
	if err == nil {
		err = fromEnv.Annotate(cfg.Validate())
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", name, err, name)
		return ExitConfig
	}
	if err := fromEnv.Annotate(run(ctx)); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if config.IsConfigError(err) {
			return ExitConfig
		}
		return ExitFailed
	}
	return ExitOK
}

// PrintUsage writes a command's help: usage line, summary, and every flag with its default and
// environment variable.
func PrintUsage(w io.Writer, fs *flag.FlagSet, name, summary string) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n%s\n\nFlags (each also read from its NW_ environment variable):\n", name, summary)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

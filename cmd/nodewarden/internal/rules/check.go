package rules

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// CheckConfig is `rules check`'s configuration: the files, given as arguments.
type CheckConfig struct {
	Files  []string
	Stdout io.Writer
	Stderr io.Writer
}

// AddFlags registers the flags (none of its own).
func (c *CheckConfig) AddFlags(*flag.FlagSet) {}

// Validate checks the configuration.
func (c *CheckConfig) Validate() error {
	if len(c.Files) == 0 {
		return &config.Error{Reason: "name at least one rule file: nodewarden rules check FILE..."}
	}
	return nil
}

// SplitFiles moves the file arguments out of args into cfg.Files; what remains are flags
// (check has only --help and --version, which take no value). "--" ends the flags.
func SplitFiles(args []string, cfg *CheckConfig) []string {
	var flags []string
	for i, a := range args {
		switch {
		case a == "--":
			cfg.Files = append(cfg.Files, args[i+1:]...)
			return flags
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
		default:
			cfg.Files = append(cfg.Files, a)
		}
	}
	return flags
}

// Check loads every file, printing "ok FILE (kind, N rules)" on Stdout for each good one and
// the load error on Stderr for each bad one. It returns a configuration error (exit 2) when
// any is bad, after checking them all.
func Check(_ context.Context, c CheckConfig) error {
	bad := 0
	for _, path := range c.Files {
		f, err := loadFile(path)
		if err != nil {
			bad++
			fmt.Fprintln(c.Stderr, err)
			continue
		}
		fmt.Fprintf(c.Stdout, "ok %s (%s)\n", path, f.summary())
		for _, w := range f.warnings() {
			fmt.Fprintf(c.Stderr, "warning: %s: %s\n", path, w)
		}
	}
	if bad > 0 {
		return &config.Error{Reason: fmt.Sprintf("%d of %d rule files did not load", bad, len(c.Files))}
	}
	return nil
}

// noFlags is the configuration of a subcommand without flags.
type noFlags struct{}

func (noFlags) AddFlags(*flag.FlagSet) {}
func (noFlags) Validate() error        { return nil }

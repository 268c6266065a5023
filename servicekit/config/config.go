// Package config parses a daemon's flags with environment fallbacks: every flag --some-name not
// given on the command line is taken from NW_SOME_NAME when that is set. Bad values, on the
// command line, in the environment or found by a later Validate, are reported as *Error, which
// names the flag and the value; mains exit with status 2 for it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvPrefix is the prefix of every environment fallback.
const EnvPrefix = "NW_"

// Error is a bad configuration value. Mains exit 2 for it.
type Error struct {
	Flag   string // without dashes
	Value  string
	Source string // "flag", an environment variable name, or a file
	Reason string
}

func (e *Error) Error() string {
	src := ""
	if e.Source != "" && e.Source != "flag" {
		src = " (from " + e.Source + ")"
	}
	if e.Flag == "" {
		return fmt.Sprintf("invalid configuration%s: %s", src, e.Reason)
	}
	return fmt.Sprintf("invalid value %q for flag --%s%s: %s", e.Value, e.Flag, src, e.Reason)
}

// Invalid builds the error a Validate method returns for a flag's bad value.
func Invalid(flagName string, value any, format string, args ...any) error {
	return &Error{Flag: flagName, Value: fmt.Sprint(value), Source: "flag", Reason: fmt.Sprintf(format, args...)}
}

// IsConfigError reports whether err is (or wraps) a configuration error, or is flag.ErrHelp.
func IsConfigError(err error) bool {
	var ce *Error
	return errors.As(err, &ce)
}

// EnvName is the environment variable that backs a flag: "nats-url" → "NW_NATS_URL".
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// FromEnv maps the flags that were set from the environment to their variable.
type FromEnv map[string]string

// Annotate adds the environment variable to a configuration error about a flag that came from
// the environment, so the operator knows where to look.
func (f FromEnv) Annotate(err error) error {
	var ce *Error
	if errors.As(err, &ce) && ce.Source == "flag" {
		if env, ok := f[ce.Flag]; ok {
			ce.Source = env
		}
	}
	return err
}

// Parse parses args into fs (which must use flag.ContinueOnError), then fills each flag that was
// not given on the command line from its environment variable. It annotates every flag's usage
// with its variable so --help shows it. It returns flag.ErrHelp for -h/--help.
func Parse(fs *flag.FlagSet, args []string) (FromEnv, error) {
	return ParseWithEnv(fs, args, os.LookupEnv)
}

// ParseWithEnv is Parse with an injectable environment (for tests).
func ParseWithEnv(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) (FromEnv, error) {
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Usage, "(env ") {
			f.Usage += " (env " + EnvName(f.Name) + ")"
		}
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &Error{Source: "flag", Reason: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &Error{Source: "flag", Reason: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	fromEnv := FromEnv{}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || firstErr != nil {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := setFromEnv(f, v); err != nil {
			firstErr = &Error{Flag: f.Name, Value: v, Source: name, Reason: err.Error()}
		}
		fromEnv[f.Name] = name
	})
	return fromEnv, firstErr
}

// setFromEnv sets a flag from one variable; a list flag takes a comma-separated list.
func setFromEnv(f *flag.Flag, v string) error {
	if l, ok := f.Value.(*StringList); ok {
		*l = nil
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				if err := l.Set(part); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return f.Value.Set(v)
}

// StringList is a repeatable string flag (--log-monitor a.json --log-monitor b.json); from the
// environment it takes a comma-separated list.
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set appends one value.
func (l *StringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// OneOf checks that value is one of allowed, naming the flag otherwise.
func OneOf(flagName, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return Invalid(flagName, value, "want one of %s", strings.Join(allowed, ", "))
}

// SplitPositional separates positional arguments from flags, so they may come before, between or
// after the flags (`nodewarden lock release node-1 --force`). A flag given without "=" takes the
// next argument as its value unless it is one of boolFlags (without dashes); "--" ends the flags.
func SplitPositional(args []string, boolFlags ...string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...)
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			isBool := name == "h" || name == "help" || name == "version"
			for _, b := range boolFlags {
				isBool = isBool || name == b
			}
			if !strings.Contains(a, "=") && !isBool && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	return flags, positional
}

// Package counter turns NPD's log-counter monitor files (kernel-monitor-counter.json: a
// custom-plugin file whose rules run NPD's `log-counter` binary) into nodewarden counter rules
// and evaluates them on the log stream. NPD re-runs `log-counter --lookback=20m --count=3
// --pattern=...` every invoke_interval and sets the rule's condition True while at least count
// lines matching pattern occurred within lookback (message "Found N matching logs, which meets
// the threshold of N"), False otherwise (the file's default reason and message). Here the same
// rule is evaluated at every line and at every Tick, using the lines' own times, so the
// condition rises at the line that completes the count and falls when the window slides past
// the oldest line counted — not up to invoke_interval later. Other custom-plugin files (scripts
// such as NPD's health-checker) are refused with a configuration error saying what replaces
// them: nodewarden health rules or threshold rules. README.md documents the format.
package counter

import (
	"regexp"
	"slices"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// Flag is the detector flag that names rule files; configuration errors name it.
const Flag = "rules"

// Plugin is the plugin of every custom-plugin-monitor file.
const Plugin = "custom"

// NPD's custom-plugin defaults (pkg/custompluginmonitor/types/config.go).
const (
	DefaultInvokeInterval  = 30 * time.Second
	DefaultMaxOutputLength = 80
)

// JournaldSources maps log-counter's --journald-source (a syslog identifier) to the source of
// the nodewarden log monitor whose lines carry it: NPD's own monitor files read the kernel log
// as "kernel-monitor" (kmsg), dockerd's journal as "docker-monitor" and systemd's as
// "systemd-monitor". A rule may name another with the nodewarden field "logSource".
var JournaldSources = map[string]string{
	"kernel":  "kernel-monitor",
	"dockerd": "docker-monitor",
	"systemd": "systemd-monitor",
}

// File is one log-counter monitor file.
type File struct {
	// Path is the file it was loaded from.
	Path string
	// Source is the file's `source`: the problems' source, as NPD reports them.
	Source string
	// InvokeInterval is how often NPD ran log-counter (pluginConfig.invoke_interval). Counter
	// rules are evaluated at every line and Tick instead; it is kept for callers that want to
	// tick no more often than NPD checked.
	InvokeInterval time.Duration
	// MaxOutputLength cuts the True message, as NPD cuts the plugin's output.
	MaxOutputLength int
	// Conditions are the file's conditions in their default (False) state.
	Conditions []npdconfig.Condition
	Rules      []Rule

	bySource map[string][]int // log source → rule indices
}

// Rule is one log-counter invocation turned into a counter rule.
type Rule struct {
	// Type is npdconfig.Permanent (a condition) or npdconfig.Temporary (an event each time the
	// count reaches Count).
	Type      string
	Condition string // permanent rules
	Reason    string
	// Severity and Reboot are nodewarden's additions, as in system-log-monitor files.
	Severity string
	Reboot   bool

	// LogSource is the nodewarden log source whose lines feed the rule.
	LogSource string
	// JournaldSource is log-counter's --journald-source, as written.
	JournaldSource string
	// Pattern is --pattern; a line counts when pattern + `\z` matches the buffered lines
	// ending with it, as in NPD's log buffer.
	Pattern *regexp.Regexp
	// RevertPattern is --revert-pattern (nil when absent): a line matching it counts -1.
	RevertPattern *regexp.Regexp
	// Count is --count: the condition holds while at least Count lines occurred in Window.
	Count int
	// Window is --lookback: a line at time t counts until t + Window, inclusive.
	Window time.Duration

	set *matcher.Set // Pattern (rule 0) and RevertPattern (rule 1), NPD's buffer semantics
}

// Sources lists the log sources whose lines the file's rules read.
func (f *File) Sources() []string {
	var out []string
	for _, r := range f.Rules {
		if !slices.Contains(out, r.LogSource) {
			out = append(out, r.LogSource)
		}
	}
	return out
}

// LoadError is a file that cannot be loaded as counter rules. It names the file, and the field
// and value at fault when there is one (e.g. `rules[0].args "--count=three"`). It is a
// configuration error: errors.As(err, new(*config.Error)) holds for it, so mains exit 2.
type LoadError struct {
	Path   string
	Field  string
	Value  string
	Reason string
	Err    error
	// Other is set when the file is another kind of custom-plugin file (scripts), which
	// nodewarden does not run; Reason then says what to use instead.
	Other bool
}

func (e *LoadError) file() *config.FileError {
	return &config.FileError{Flag: Flag, Path: e.Path, Field: e.Field, Value: e.Value, Reason: e.Reason, Err: e.Err}
}

func (e *LoadError) Error() string { return e.file().Error() }

func (e *LoadError) Unwrap() error { return e.Err }

// As makes a LoadError a *config.Error for errors.As, naming the --rules flag and the file.
func (e *LoadError) As(target any) bool { return e.file().As(target) }

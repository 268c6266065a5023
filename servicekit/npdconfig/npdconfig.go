// Package npdconfig loads Node Problem Detector system-log-monitor files (kernel-monitor.json,
// docker-monitor.json, ...) unchanged, so operators bring their NPD configuration with them. One
// file holds two halves that nodewarden runs in two places: the watcher half (plugin,
// pluginConfig, logPath, lookback, skipList) tells the collector which log to read, the rule half
// (source, bufferSize, conditions, rules) tells the detector what to look for. Everything is
// checked at load — plugin, durations, every regular expression — so a bad file stops a daemon at
// start with an error naming the file, the field and the value, never later in the middle of a log.
package npdconfig

import (
	"fmt"
	"regexp"
	"time"
)

// Plugins nodewarden reads logs with, as NPD names them.
const (
	PluginKmsg     = "kmsg"
	PluginFilelog  = "filelog"
	PluginJournald = "journald"
)

// Rule types, as NPD names them.
const (
	Temporary = "temporary" // a matching line is an event
	Permanent = "permanent" // a matching line sets a condition
)

// Severities a nodewarden rule may carry (an addition to NPD's format).
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// DefaultBufferSize is NPD's bufferSize when a file leaves it out or sets 0.
const DefaultBufferSize = 10

// Monitor is one system-log-monitor file.
type Monitor struct {
	// Path is the file it was loaded from.
	Path string

	// The watcher half: the collector's.

	// Plugin is kmsg, filelog or journald.
	Plugin       string
	PluginConfig PluginConfig
	// LogPath is the device, file or journal directory to read (as seen from the host; the
	// collector prefixes its host root). Empty for kmsg means /dev/kmsg.
	LogPath string
	// Lookback bounds what is read at start: lines older than now − Lookback are skipped.
	// Zero (NPD's default) reads only lines written from now on.
	Lookback time.Duration
	// Delay skips lines written during the first Delay after boot (NPD's `delay`).
	Delay time.Duration
	// SkipList: lines containing any of these strings are not read (filelog only, as in NPD).
	SkipList []string

	// The rule half: the detector's.

	// Source names the log: the `source` of the file, unique among loaded files; it is a token
	// of the subject the collector publishes on.
	Source string
	// BufferSize is how many lines a pattern may span (DefaultBufferSize when unset).
	BufferSize int
	// MetricsReporting is NPD's `metricsReporting` (true when unset, as in NPD).
	MetricsReporting bool
	Conditions       []Condition
	Rules            []Rule

	// Unknown lists top-level fields this package does not know, sorted. NPD ignores them and so
	// does Load; callers may log them, since a misspelt field is silently ignored otherwise.
	Unknown []string

	timestampRe, messageRe *regexp.Regexp
}

// PluginConfig is the plugin's settings. Timestamp, Message and TimestampFormat are filelog's
// (regular expressions cutting the timestamp and the message out of a line, and the Go layout
// of the timestamp); Source is journald's syslog identifier.
type PluginConfig struct {
	Timestamp       string
	Message         string
	TimestampFormat string
	Source          string
}

// TimestampRegexp is filelog's compiled pluginConfig.timestamp (nil for other plugins).
func (m *Monitor) TimestampRegexp() *regexp.Regexp { return m.timestampRe }

// MessageRegexp is filelog's compiled pluginConfig.message (nil for other plugins).
func (m *Monitor) MessageRegexp() *regexp.Regexp { return m.messageRe }

// Condition is a node condition a file manages, in its default (healthy) state.
type Condition struct {
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Rule is one pattern to look for. Type, Condition, Reason and Pattern are NPD's; Reboot and
// Severity are nodewarden's additions (NPD ignores them, so a file carrying them still loads in
// NPD).
type Rule struct {
	Type      string `json:"type"`
	Condition string `json:"condition"`
	Reason    string `json:"reason"`
	// Pattern is the regular expression as written. NPD matches it anchored at the end of the
	// buffered lines (pattern + `\z`); that is the detector's business.
	Pattern string `json:"pattern"`
	// Reboot asks for a reboot when this permanent rule's condition becomes true.
	Reboot bool `json:"reboot"`
	// Severity is info, warning or critical; empty leaves it to the detector's default.
	Severity string `json:"severity"`
	// ClearAfterText ("30m") sets a permanent rule's condition back to False that long after
	// the last line that matched it (NPD's stay True until NPD restarts); empty never.
	ClearAfterText string `json:"clearAfter"`
	// ClearAfter is ClearAfterText parsed.
	ClearAfter time.Duration `json:"-"`

	re *regexp.Regexp
}

// Regexp is the compiled Pattern, exactly as written (no anchor added).
func (r *Rule) Regexp() *regexp.Regexp { return r.re }

// Flag is the daemon flag that names log-monitor files; configuration errors name it.
const Flag = "log-monitor"

// LoadError is a file that cannot be loaded. It names the file, and the field and value at
// fault when there is one. It is a configuration error: errors.As(err, new(*config.Error))
// holds for it, so mains exit 2.
type LoadError struct {
	Path   string
	Field  string // e.g. "plugin", "rules[2].pattern"; empty for read and syntax errors
	Value  string
	Reason string
	Err    error // the underlying error (read, JSON, regexp), if any

	valueIsKind bool // Value is the JSON kind found (a type error), not the value itself
}

func (e *LoadError) Error() string { return "load " + e.Path + ": " + e.detail() }

func (e *LoadError) detail() string {
	s := e.Reason
	switch {
	case e.valueIsKind:
		s = fmt.Sprintf("%s: got a JSON %s, %s", e.Field, e.Value, e.Reason)
	case e.Field != "":
		s = fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *LoadError) Unwrap() error { return e.Err }

// Package healthrules turns the collector's health reports and node samples into node
// conditions, as NPD's custom-plugin and system-stats monitors would, from a small YAML (or
// JSON) file of our own: health rules (a component failing K consecutive checks, or failing for
// longer than D, sets a condition; K' healthy checks clear it) and threshold rules (a metric of the
// node sample beyond a bound for a while, like a Prometheus alert's `for`, sets a condition). A
// file is checked whole at load, and a bad one is a configuration error naming the file, the rule,
// the field and the value. Evaluation keeps one Node per node and uses the messages' own times,
// never the wall clock, so replays and tests behave exactly as live traffic. README.md in this
// directory documents the format; defaults.yaml is embedded as Default.
package healthrules

import (
	_ "embed" // defaults.yaml
	"fmt"
	"os"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// Flag is the detector flag that names a health-rules file; configuration errors name it.
const Flag = "health-rules"

// Severities a rule may carry.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Sources of a Change: the kind of rule that made it.
const (
	SourceHealth    = "health"
	SourceThreshold = "threshold"
)

// Config is a parsed rules file. It is read-only once parsed, so one Config serves every Node,
// from any number of goroutines.
type Config struct {
	// Path is the file it came from ("defaults.yaml" for Default).
	Path           string
	HealthRules    []HealthRule
	ThresholdRules []ThresholdRule

	conds  []Condition
	byCond map[string][]int // condition → indices into HealthRules or ThresholdRules (one kind per condition)
}

// HealthRule sets Condition from the health reports of the components it matches.
type HealthRule struct {
	Condition string
	// Components are path.Match patterns of report components ("kubelet", "systemd/*").
	Components []string
	// Failures is K: this many consecutive failed reports of one component set the condition
	// (0: only FailingFor counts).
	Failures int
	// FailingFor is D: a failure that has lasted this long, from the first failed report of the
	// run, sets the condition (0: only Failures counts).
	FailingFor time.Duration
	// Successes is K': this many consecutive healthy reports clear it (at least 1).
	Successes int

	Severity                  string
	Reason, Message           string // while True; the failing report's message is appended
	ClearReason, ClearMessage string // while False, and the default
}

// ThresholdRule sets Condition while a metric of the node sample is beyond Threshold.
type ThresholdRule struct {
	Condition string
	Metric    string
	// Mountpoint is a path.Match pattern of mount points for filesystem metrics; empty is all.
	Mountpoint string
	// Op is <, <=, > or >=: the condition holds while `value Op Threshold`.
	Op        string
	Threshold float64
	// ClearThreshold is the bound a firing condition must leave to clear (hysteresis); it equals
	// Threshold unless set.
	ClearThreshold float64
	// For is how long the expression must hold, at every sample, before the condition is set.
	For time.Duration
	// ClearFor is how long it must stop holding before the condition is cleared.
	ClearFor time.Duration

	Severity                  string
	Reason, Message           string
	ClearReason, ClearMessage string

	metric *metricDef
}

// Condition is a condition some rule sets, in its default (False) state.
type Condition struct {
	Type     string
	Reason   string // the rule's clearReason
	Message  string // the rule's clearMessage
	Severity string
	Source   string // SourceHealth or SourceThreshold
}

// Change is a condition changing status. Time is the time of the report or sample that caused
// it; Rule indexes HealthRules (Source "health") or ThresholdRules (Source "threshold").
type Change struct {
	Condition string
	Status    bool
	Reason    string
	Message   string
	Severity  string
	Time      time.Time
	Source    string
	Rule      int
}

// Conditions lists every condition the rules can set with its default (False) reason and
// message, in the order the file first names them, so the detector can initialise its state.
func (c *Config) Conditions() []Condition { return append([]Condition(nil), c.conds...) }

//go:embed defaults.yaml
var defaults []byte

// Default is the shipped rules (defaults.yaml): kubelet and container runtime health, low
// memory, disk space and inodes, and memory thrashing by PSI. Each call returns a fresh Config.
func Default() *Config {
	c, err := Parse("defaults.yaml", defaults)
	if err != nil {
		// The embedded file is parsed by the tests; reaching this is a defect of the build,
		// not of anything a user supplied.
		panic(fmt.Sprintf("healthrules: embedded defaults: %v", err))
	}
	return c
}

// DefaultYAML is the text of the shipped rules, for `nodewarden rules` to print as a starting
// point.
func DefaultYAML() []byte { return append([]byte(nil), defaults...) }

// Load reads and checks one rules file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{Flag: Flag, Path: path, Reason: "read", Err: err}
	}
	return Parse(path, data)
}

// LoadError is a rules file that cannot be loaded; it names the --health-rules flag, the file,
// and the rule field and value at fault, and mains exit 2 for it.
type LoadError = config.FileError

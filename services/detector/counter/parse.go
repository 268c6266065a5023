package counter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// Load reads and checks one log-counter monitor file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{Path: path, Reason: "read", Err: err}
	}
	return Parse(path, data)
}

// The JSON shape of a custom-plugin-monitor file (NPD's CustomPluginConfig), with nodewarden's
// additions to a rule: severity, reboot and logSource.
type (
	rawFile struct {
		Plugin       string                     `json:"plugin"`
		PluginConfig map[string]json.RawMessage `json:"pluginConfig"`
		Source       string                     `json:"source"`
		Conditions   []npdconfig.Condition      `json:"conditions"`
		Rules        []json.RawMessage          `json:"rules"`
	}
	rawRule struct {
		Type      string   `json:"type"`
		Condition string   `json:"condition"`
		Reason    string   `json:"reason"`
		Path      string   `json:"path"`
		Args      []string `json:"args"`
		Timeout   string   `json:"timeout"`
		Severity  string   `json:"severity"`
		Reboot    bool     `json:"reboot"`
		LogSource string   `json:"logSource"`
	}
)

// Parse checks the contents of a log-counter monitor file; path names it in errors. A
// custom-plugin file whose rules run anything but log-counter is refused with a LoadError
// whose Other is set and whose reason names the nodewarden replacement.
func Parse(path string, data []byte) (*File, error) {
	fail := func(field, value, format string, args ...any) *LoadError {
		return &LoadError{Path: path, Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonError(path, data, "", err)
	}
	var plugin string
	if raw, ok := top["plugin"]; ok {
		if err := json.Unmarshal(raw, &plugin); err != nil {
			return nil, fail("plugin", string(raw), "want a string")
		}
	}
	if plugin != Plugin {
		return nil, fail("plugin", plugin, "not a custom-plugin-monitor file (want %q with rules running NPD's log-counter)", Plugin)
	}
	var raw rawFile
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, jsonError(path, data, "", err)
	}
	// Rule by rule, so that a type error names the rule's index.
	rules := make([]rawRule, len(raw.Rules))
	for i, rr := range raw.Rules {
		if err := json.Unmarshal(rr, &rules[i]); err != nil {
			return nil, jsonError(path, data, fmt.Sprintf("rules[%d]", i), err)
		}
	}
	if err := refuseScripts(path, rules); err != nil {
		return nil, err
	}
	f := &File{Path: path, Source: raw.Source, Conditions: raw.Conditions,
		InvokeInterval: DefaultInvokeInterval, MaxOutputLength: DefaultMaxOutputLength, bySource: map[string][]int{}}
	if err := f.pluginConfig(raw.PluginConfig, fail); err != nil {
		return nil, err
	}
	if f.Source == "" {
		return nil, fail("source", "", "empty; the problems' source")
	}
	conds := map[string]bool{}
	for i, c := range f.Conditions {
		field := fmt.Sprintf("conditions[%d].type", i)
		if c.Type == "" {
			return nil, fail(field, "", "empty")
		}
		if conds[c.Type] {
			return nil, fail(field, c.Type, "declared twice")
		}
		conds[c.Type] = true
	}
	for i := range rules {
		r, err := rules[i].check(path, fmt.Sprintf("rules[%d]", i), conds, fail)
		if err != nil {
			return nil, err
		}
		f.Rules = append(f.Rules, r)
		f.bySource[r.LogSource] = append(f.bySource[r.LogSource], i)
	}
	return f, nil
}

// pluginConfig reads what matters of NPD's global plugin settings and checks the rest as NPD
// would parse it (a bad duration stops NPD too).
func (f *File) pluginConfig(pc map[string]json.RawMessage, fail func(field, value, format string, args ...any) *LoadError) error {
	for k, v := range pc {
		field := "pluginConfig." + k
		switch k {
		case "invoke_interval", "timeout":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fail(field, string(v), "want a Go duration string such as 5m")
			}
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return fail(field, s, "want a positive Go duration such as 5m")
			}
			if k == "invoke_interval" {
				f.InvokeInterval = d
			}
		case "max_output_length", "concurrency":
			var n int
			if err := json.Unmarshal(v, &n); err != nil || n <= 0 {
				return fail(field, string(v), "want a positive whole number")
			}
			if k == "max_output_length" {
				f.MaxOutputLength = n
			}
		}
	}
	return nil
}

func (rr *rawRule) check(path, at string, conds map[string]bool,
	fail func(field, value, format string, args ...any) *LoadError) (Rule, error) {
	r := Rule{Type: rr.Type, Condition: rr.Condition, Reason: rr.Reason, Severity: rr.Severity, Reboot: rr.Reboot}
	switch r.Type {
	case npdconfig.Temporary, npdconfig.Permanent:
	default:
		return r, fail(at+".type", r.Type, "want temporary or permanent")
	}
	if r.Reason == "" {
		return r, fail(at+".reason", "", "empty")
	}
	if r.Type == npdconfig.Permanent && !conds[r.Condition] {
		return r, fail(at+".condition", r.Condition, "a permanent rule needs one of the file's conditions")
	}
	if r.Reboot && r.Type != npdconfig.Permanent {
		return r, fail(at+".reboot", "true", "only a permanent rule (a condition) can ask for a reboot")
	}
	switch r.Severity {
	case "", npdconfig.SeverityInfo, npdconfig.SeverityWarning, npdconfig.SeverityCritical:
	default:
		return r, fail(at+".severity", r.Severity, "want info, warning or critical")
	}
	if rr.Timeout != "" {
		if d, err := time.ParseDuration(rr.Timeout); err != nil || d <= 0 {
			return r, fail(at+".timeout", rr.Timeout, "want a positive Go duration such as 1m")
		}
	}
	args, bad, err := parseArgs(rr.Args)
	if err != nil {
		return r, fail(at+".args", bad, "%v", err)
	}
	arg := func(name string) (string, string) {
		return at + ".args --" + name, args[name]
	}
	field, v := arg("journald-source")
	r.JournaldSource = v
	r.LogSource = rr.LogSource
	if r.LogSource == "" {
		if v == "" {
			return r, fail(field, v, "missing: log-counter needs the syslog identifier to count, e.g. kernel")
		}
		if r.LogSource = JournaldSources[v]; r.LogSource == "" {
			return r, fail(field, v, `no nodewarden log monitor is known to carry it (known: kernel, dockerd, systemd); add "logSource": "<source of the system-log-monitor file that reads it>" to the rule`)
		}
	}
	if field, v = arg("lookback"); v == "" {
		return r, fail(field, v, "missing: log-counter needs the window to count in, e.g. 20m")
	}
	if r.Window, err = time.ParseDuration(v); err != nil || r.Window <= 0 {
		return r, fail(field, v, "want a positive Go duration such as 20m")
	}
	if field, v = arg("delay"); v != "" {
		if d, err := time.ParseDuration(v); err != nil || d != 0 {
			return r, fail(field, v, "not supported by counter rules: set the delay on the collector's log monitor (its `delay`), which skips those lines for every rule")
		}
	}
	r.Count = 1 // log-counter's default
	if field, v = arg("count"); v != "" {
		// pflag's IntVar: base prefixes (0x...) allowed.
		n, err := strconv.ParseInt(v, 0, 32)
		if err != nil || n < 1 {
			return r, fail(field, v, "want a whole number of at least 1")
		}
		r.Count = int(n)
	}
	if field, v = arg("pattern"); v == "" {
		return r, fail(field, v, "missing or empty: the regular expression a counted line matches")
	}
	if r.Pattern, err = compile(field, v, fail); err != nil {
		return r, err
	}
	if field, v = arg("revert-pattern"); v != "" {
		if r.RevertPattern, err = compile(field, v, fail); err != nil {
			return r, err
		}
	}
	if r.set, err = compileSet(path, r.Pattern.String(), v); err != nil {
		return r, fail(at+".args", strings.Join(rr.Args, " "), "%v", err)
	}
	return r, nil
}

func compile(field, expr string, fail func(field, value, format string, args ...any) *LoadError) (*regexp.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fail(field, expr, "%s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// logCounterBuffer is the number of lines log-counter keeps (pkg/logcounter: bufferSize), so
// the most a pattern may span.
const logCounterBuffer = 1000

// compileSet builds the matcher for a rule: the pattern as rule 0, the revert pattern as rule
// 1. Patterns confined to the newest line (nearly all) need a buffer of one line, which gives
// exactly the results of log-counter's 1000; others keep all 1000, as log-counter does.
func compileSet(path, pattern, revert string) (*matcher.Set, error) {
	size := logCounterBuffer
	if matcher.LastLineOnly(pattern) && (revert == "" || matcher.LastLineOnly(revert)) {
		size = 1
	}
	mon := &npdconfig.Monitor{Path: path, BufferSize: size,
		Rules: []npdconfig.Rule{{Type: npdconfig.Temporary, Reason: "count", Pattern: pattern}}}
	if revert != "" {
		mon.Rules = append(mon.Rules, npdconfig.Rule{Type: npdconfig.Temporary, Reason: "revert", Pattern: revert})
	}
	return matcher.Compile(mon)
}

// parseArgs reads log-counter's command line as pflag does: --name=value or --name value. On
// error it returns the argument at fault.
func parseArgs(args []string) (map[string]string, string, error) {
	known := []string{"journald-source", "log-path", "lookback", "delay", "pattern", "revert-pattern", "count"}
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, ok := strings.CutPrefix(a, "--")
		if !ok || name == "" {
			return nil, a, errors.New("unexpected argument: log-counter takes only --flag=value")
		}
		name, value, hasValue := strings.Cut(name, "=")
		if !slices.Contains(known, name) {
			return nil, a, fmt.Errorf("unknown log-counter flag (known: --%s)", strings.Join(known, ", --"))
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, a, errors.New("the flag needs a value")
			}
			i++
			value = args[i]
		}
		if _, dup := out[name]; dup {
			return nil, a, errors.New("the flag is given twice")
		}
		out[name] = value
	}
	return out, "", nil
}

// jsonError turns a decoding error into a LoadError, with the line and column of a syntax
// error and the field of a type error (under prefix, e.g. "rules[2]").
func jsonError(path string, data []byte, prefix string, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off := min(max(syn.Offset-1, 0), int64(len(data)))
		before := data[:off]
		line := bytes.Count(before, []byte("\n")) + 1
		col := int(off) - bytes.LastIndexByte(before, '\n')
		return &LoadError{Path: path, Reason: fmt.Sprintf("invalid JSON at line %d, column %d", line, col), Err: err}
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := typ.Field
		if prefix != "" {
			field = strings.TrimSuffix(prefix+"."+field, ".")
		}
		want := map[reflect.Kind]string{reflect.String: "a string", reflect.Bool: "true or false", reflect.Int: "a whole number",
			reflect.Slice: "a list", reflect.Struct: "an object", reflect.Map: "an object"}[typ.Type.Kind()]
		if want == "" {
			want = typ.Type.String()
		}
		if field == "" {
			return &LoadError{Path: path, Reason: fmt.Sprintf("got a JSON %s, want %s", typ.Value, want)}
		}
		return &LoadError{Path: path, Field: field, Value: typ.Value, Reason: "wrong JSON type: want " + want}
	}
	return &LoadError{Path: path, Reason: "invalid JSON", Err: err}
}

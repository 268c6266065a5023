package npdconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// As makes a LoadError a *config.Error for errors.As, naming the --log-monitor flag and the
// file, so a daemon's main treats a bad file like any bad flag value (exit 2).
func (e *LoadError) As(target any) bool {
	ce, ok := target.(**config.Error)
	if !ok {
		return false
	}
	*ce = &config.Error{Flag: Flag, Value: e.Path, Source: "flag", Reason: e.detail()}
	return true
}

// Load reads and checks one system-log-monitor file.
func Load(path string) (*Monitor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{Path: path, Reason: "read", Err: err}
	}
	return Parse(path, data)
}

// LoadAll loads every file and checks that no two share a source: their lines would be
// published on the same subject and their sequences would collide.
func LoadAll(paths []string) ([]*Monitor, error) {
	mons := make([]*Monitor, 0, len(paths))
	bySource := map[string]string{}
	for _, p := range paths {
		m, err := Load(p)
		if err != nil {
			return nil, err
		}
		if prev, dup := bySource[m.Source]; dup {
			return nil, &config.Error{Flag: Flag, Value: p, Source: "flag",
				Reason: fmt.Sprintf("source %q is also the source of %s; each log monitor needs its own source", m.Source, prev)}
		}
		bySource[m.Source] = p
		mons = append(mons, m)
	}
	return mons, nil
}

// isSystemStats reports whether a file without a plugin looks like NPD's system-stats-monitor
// configuration (metric groups and an invokeInterval), to say so in the refusal.
func isSystemStats(top map[string]json.RawMessage) bool {
	for _, k := range []string{"cpu", "disk", "memory", "host", "net", "osFeature", "invokeInterval"} {
		if _, ok := top[k]; ok {
			return true
		}
	}
	return false
}

// runsLogCounter reports whether a custom-plugin file's rules all run NPD's log-counter: the
// detector loads those as counter rules, so the refusal points there.
func runsLogCounter(top map[string]json.RawMessage) bool {
	var rules []struct {
		Path string `json:"path"`
	}
	if json.Unmarshal(top["rules"], &rules) != nil || len(rules) == 0 {
		return false
	}
	for _, r := range rules {
		if !strings.HasSuffix(r.Path, "log-counter") {
			return false
		}
	}
	return true
}

// known are the top-level fields of a system-log-monitor file.
var known = []string{"plugin", "pluginConfig", "logPath", "lookback", "delay", "skipList",
	"bufferSize", "source", "metricsReporting", "conditions", "rules"}

// file is the JSON shape; pluginConfig is decoded by key because other monitor kinds (custom
// plugins) put numbers and booleans there.
type file struct {
	Plugin           string                     `json:"plugin"`
	PluginConfig     map[string]json.RawMessage `json:"pluginConfig"`
	LogPath          string                     `json:"logPath"`
	Lookback         string                     `json:"lookback"`
	Delay            string                     `json:"delay"`
	SkipList         []string                   `json:"skipList"`
	BufferSize       int                        `json:"bufferSize"`
	Source           string                     `json:"source"`
	MetricsReporting *bool                      `json:"metricsReporting"`
	Conditions       []Condition                `json:"conditions"`
	Rules            []Rule                     `json:"rules"`
}

// Parse checks the contents of a system-log-monitor file; path names it in errors.
func Parse(path string, data []byte) (*Monitor, error) {
	fail := func(field, value, format string, args ...any) error {
		return &LoadError{Path: path, Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonError(path, data, err)
	}
	// The plugin first: a custom-plugin or system-stats file fails here with a reason that says
	// what it is, not with a type error deep inside its pluginConfig.
	var plugin string
	if raw, ok := top["plugin"]; ok {
		if err := json.Unmarshal(raw, &plugin); err != nil {
			return nil, fail("plugin", string(raw), "want a string")
		}
	}
	switch plugin {
	case PluginKmsg, PluginFilelog, PluginJournald:
	case "":
		if isSystemStats(top) {
			return nil, fail("plugin", "", "missing: not a system-log-monitor file but a system-stats-monitor file, which nodewarden "+
				"does not run: the collector samples node and container stats itself, and the detector's threshold rules "+
				"(--health-rules) set conditions on them; want kmsg, filelog or journald")
		}
		return nil, fail("plugin", "", "missing: not a system-log-monitor file; want kmsg, filelog or journald")
	case "custom":
		if runsLogCounter(top) {
			return nil, fail("plugin", plugin, "a custom-plugin-monitor file running NPD's log-counter: the detector reads it as "+
				"counter rules (its --rules; check it with nodewarden rules check), not as a log monitor; want kmsg, filelog or journald")
		}
		return nil, fail("plugin", plugin, "a custom-plugin-monitor file, whose scripts nodewarden does not run: the collector "+
			"checks kubelet and runtime health itself and the detector's health rules (--health-rules) turn the reports "+
			"into conditions, as its threshold rules do for node samples; want kmsg, filelog or journald")
	default:
		return nil, fail("plugin", plugin, "want kmsg, filelog or journald")
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(path, data, err)
	}
	m := &Monitor{
		Path:             path,
		Plugin:           plugin,
		LogPath:          f.LogPath,
		SkipList:         f.SkipList,
		Source:           f.Source,
		BufferSize:       f.BufferSize,
		MetricsReporting: f.MetricsReporting == nil || *f.MetricsReporting,
		Conditions:       f.Conditions,
		Rules:            f.Rules,
	}
	for k := range top {
		if !slices.Contains(known, k) {
			m.Unknown = append(m.Unknown, k)
		}
	}
	sort.Strings(m.Unknown)

	for k, raw := range f.PluginConfig {
		var dst *string
		switch k {
		case "timestamp":
			dst = &m.PluginConfig.Timestamp
		case "message":
			dst = &m.PluginConfig.Message
		case "timestampFormat":
			dst = &m.PluginConfig.TimestampFormat
		case "source":
			dst = &m.PluginConfig.Source
		default:
			continue // NPD ignores keys its plugin does not read
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fail("pluginConfig."+k, string(raw), "want a string")
		}
	}
	if err := m.checkWatcher(f, fail); err != nil {
		return nil, err
	}
	if err := m.checkRules(path, fail); err != nil {
		return nil, err
	}
	return m, nil
}

type failFunc func(field, value, format string, args ...any) error

func (m *Monitor) checkWatcher(f file, fail failFunc) error {
	var err error
	if m.Lookback, err = duration(f.Lookback); err != nil {
		return fail("lookback", f.Lookback, "want a Go duration such as 5m or 10h")
	}
	if m.Delay, err = duration(f.Delay); err != nil {
		return fail("delay", f.Delay, "want a Go duration such as 5m or 10h")
	}
	for i, s := range m.SkipList {
		if s == "" {
			// strings.Contains(line, "") is always true: the file would skip every line.
			return fail(fmt.Sprintf("skipList[%d]", i), s, "empty; it would skip every line")
		}
	}
	pc := m.PluginConfig
	switch m.Plugin {
	case PluginFilelog:
		if m.LogPath == "" {
			return fail("logPath", "", "filelog needs the file to follow")
		}
		if pc.TimestampFormat == "" {
			return fail("pluginConfig.timestampFormat", "", "filelog needs a Go time layout")
		}
		if m.timestampRe, err = compile("pluginConfig.timestamp", pc.Timestamp, fail); err != nil {
			return err
		}
		if m.messageRe, err = compile("pluginConfig.message", pc.Message, fail); err != nil {
			return err
		}
	case PluginJournald:
		if pc.Source == "" {
			return fail("pluginConfig.source", "", "journald needs the syslog identifier to read")
		}
	}
	return nil
}

func compile(field, expr string, fail failFunc) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, fail(field, expr, "empty regular expression")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fail(field, expr, "%s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

func (m *Monitor) checkRules(path string, fail failFunc) error {
	if _, err := subject.Encode(m.Source); err != nil {
		return fail("source", m.Source, "%v", err)
	}
	if m.BufferSize < 0 {
		return fail("bufferSize", fmt.Sprint(m.BufferSize), "want a positive number of lines")
	}
	if m.BufferSize == 0 {
		m.BufferSize = DefaultBufferSize
	}
	conds := map[string]bool{}
	for i, c := range m.Conditions {
		field := fmt.Sprintf("conditions[%d].type", i)
		if c.Type == "" {
			return fail(field, "", "empty")
		}
		if conds[c.Type] {
			return fail(field, c.Type, "declared twice")
		}
		conds[c.Type] = true
	}
	for i := range m.Rules {
		r := &m.Rules[i]
		at := func(f string) string { return fmt.Sprintf("rules[%d].%s", i, f) }
		switch r.Type {
		case Temporary, Permanent:
		default:
			return fail(at("type"), r.Type, "want temporary or permanent")
		}
		if r.Reason == "" {
			return fail(at("reason"), "", "empty")
		}
		if r.Type == Permanent && !conds[r.Condition] {
			return fail(at("condition"), r.Condition, "a permanent rule needs one of the file's conditions")
		}
		if r.Reboot && r.Type != Permanent {
			return fail(at("reboot"), "true", "only a permanent rule (a condition) can ask for a reboot")
		}
		switch r.Severity {
		case "", SeverityInfo, SeverityWarning, SeverityCritical:
		default:
			return fail(at("severity"), r.Severity, "want info, warning or critical")
		}
		if r.ClearAfterText != "" {
			d, err := duration(r.ClearAfterText)
			switch {
			case err != nil || d <= 0:
				return fail(at("clearAfter"), r.ClearAfterText, "want a positive duration such as 30m")
			case r.Type != Permanent:
				return fail(at("clearAfter"), r.ClearAfterText, "only a permanent rule (a condition) can clear")
			}
			r.ClearAfter = d
		}
		var err error
		if r.re, err = compile(at("pattern"), r.Pattern, fail); err != nil {
			return err
		}
	}
	return nil
}

// duration parses NPD's duration strings; empty means zero, as NPD's default "0".
func duration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = errors.New("negative")
	}
	return d, err
}

// jsonError turns a decoding error into a LoadError with the line and column of a syntax error
// and the field of a type error.
func jsonError(path string, data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return &LoadError{Path: path, Reason: fmt.Sprintf("invalid JSON at line %d, column %d", line, col), Err: err}
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := typ.Field
		if field == "" {
			return &LoadError{Path: path, Reason: "want a JSON object, got a JSON " + typ.Value}
		}
		return &LoadError{Path: path, Field: field, Value: typ.Value, Reason: "want " + kindName(typ.Type), valueIsKind: true}
	}
	return &LoadError{Path: path, Reason: "invalid JSON", Err: err}
}

// kindName says what JSON a Go type wants, in the operator's words.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// position is the 1-based line and column of the byte that stopped the decoder, which has
// read off bytes.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off-1, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

package healthrules

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The shape of a file, after YAML is turned into JSON. Optional numbers are pointers so that an
// absent field is told from an explicit zero; durations are decoded by hand for a clear error.
type (
	rawHealth struct {
		Condition    string          `json:"condition"`
		Component    json.RawMessage `json:"component"`
		Failures     *int            `json:"failures"`
		FailingFor   json.RawMessage `json:"failingFor"`
		Successes    *int            `json:"successes"`
		Severity     string          `json:"severity"`
		Reason       string          `json:"reason"`
		Message      string          `json:"message"`
		ClearReason  string          `json:"clearReason"`
		ClearMessage string          `json:"clearMessage"`
	}
	rawThreshold struct {
		Condition      string          `json:"condition"`
		Metric         string          `json:"metric"`
		Mountpoint     string          `json:"mountpoint"`
		Op             string          `json:"op"`
		Threshold      *float64        `json:"threshold"`
		ClearThreshold *float64        `json:"clearThreshold"`
		For            json.RawMessage `json:"for"`
		ClearFor       json.RawMessage `json:"clearFor"`
		Severity       string          `json:"severity"`
		Reason         string          `json:"reason"`
		Message        string          `json:"message"`
		ClearReason    string          `json:"clearReason"`
		ClearMessage   string          `json:"clearMessage"`
	}
)

var (
	topFields       = []string{"healthRules", "thresholdRules"}
	healthFields    = jsonFields(rawHealth{})
	thresholdFields = jsonFields(rawThreshold{})

	// Condition types and reasons are CamelCase words, as Kubernetes writes them; that also keeps
	// them valid as subject and KV key tokens.
	nameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

	// kubeletConditions are the kubelet's own; setting them would fight the kubelet.
	kubeletConditions = []string{"Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"}
)

// failFunc builds the LoadError about one field.
type failFunc func(field, value, format string, args ...any) error

// Parse checks the contents of a rules file (YAML, or JSON, which is YAML); path names it in
// errors.
func Parse(path string, data []byte) (*Config, error) {
	bad := func(field, value, format string, args ...any) error {
		return &LoadError{Flag: Flag, Path: path, Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
	}
	js, err := yamlToJSON(data)
	if err != nil {
		return nil, &LoadError{Flag: Flag, Path: path, Reason: "invalid YAML", Err: err}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, &LoadError{Flag: Flag, Path: path, Reason: "want a mapping with healthRules and thresholdRules"}
	}
	if err := unknownField("", top, topFields, bad); err != nil {
		return nil, err
	}
	c := &Config{Path: path, byCond: map[string][]int{}}
	hs, err := list(top, "healthRules", bad)
	if err != nil {
		return nil, err
	}
	for i, raw := range hs {
		at := fmt.Sprintf("healthRules[%d]", i)
		var r rawHealth
		if err := decodeRule(at, raw, healthFields, &r, bad); err != nil {
			return nil, err
		}
		h, err := r.check(at, bad)
		if err != nil {
			return nil, err
		}
		c.HealthRules = append(c.HealthRules, h)
		if err := c.addCondition(at, SourceHealth, i, h.Condition, h.Severity, h.ClearReason, h.ClearMessage, bad); err != nil {
			return nil, err
		}
	}
	ts, err := list(top, "thresholdRules", bad)
	if err != nil {
		return nil, err
	}
	for i, raw := range ts {
		at := fmt.Sprintf("thresholdRules[%d]", i)
		var r rawThreshold
		if err := decodeRule(at, raw, thresholdFields, &r, bad); err != nil {
			return nil, err
		}
		t, err := r.check(at, bad)
		if err != nil {
			return nil, err
		}
		c.ThresholdRules = append(c.ThresholdRules, t)
		if err := c.addCondition(at, SourceThreshold, i, t.Condition, t.Severity, t.ClearReason, t.ClearMessage, bad); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// yamlToJSON converts the file, turning a panic of the YAML parser on hostile input into an
// error: a rules file must never take the detector down.
func yamlToJSON(data []byte) (js []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("YAML parser failed: %v", p)
		}
	}()
	// Strict: a key given twice is an error, not a silent choice of one.
	js, err = yaml.YAMLToJSONStrict(data)
	if err != nil {
		// One line: the parser lists several errors on indented lines.
		return nil, errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	return js, nil
}

// list decodes one top-level list of rules; an absent or null list is empty.
func list(top map[string]json.RawMessage, key string, bad failFunc) ([]json.RawMessage, error) {
	raw, ok := top[key]
	if !ok {
		return nil, nil
	}
	var out []json.RawMessage
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, bad(key, kindOf(raw), "want a list of rules")
	}
	return out, nil
}

// decodeRule decodes one rule, refusing fields it does not know: a misspelt `clearFor` would
// otherwise silently mean zero.
func decodeRule(at string, raw json.RawMessage, known []string, dst any, bad failFunc) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return bad(at, kindOf(raw), "want a mapping")
	}
	if err := unknownField(at+".", fields, known, bad); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return bad(at+"."+typ.Field, shown(fields[typ.Field]), "want %s", kindName(typ.Type.String()))
		}
		return bad(at, "", "%v", err)
	}
	return nil
}

func unknownField(prefix string, fields map[string]json.RawMessage, known []string, bad failFunc) error {
	var unknown []string
	for k := range fields {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return bad(prefix+unknown[0], shown(fields[unknown[0]]), "unknown field; want one of %s", strings.Join(known, ", "))
}

func (r *rawHealth) check(at string, bad failFunc) (HealthRule, error) {
	h := HealthRule{Condition: r.Condition, Severity: r.Severity, Reason: r.Reason, Message: r.Message,
		ClearReason: r.ClearReason, ClearMessage: r.ClearMessage, Successes: 1}
	if err := checkCommon(at, &h.Condition, &h.Severity, h.Reason, h.ClearReason, bad); err != nil {
		return h, err
	}
	var err error
	if h.Components, err = components(at+".component", r.Component, bad); err != nil {
		return h, err
	}
	if r.Failures != nil {
		if h.Failures = *r.Failures; h.Failures < 0 {
			return h, bad(at+".failures", fmt.Sprint(h.Failures), "want 0 (off) or more consecutive failed checks")
		}
	}
	if h.FailingFor, err = duration(at+".failingFor", r.FailingFor, bad); err != nil {
		return h, err
	}
	if h.Failures == 0 && h.FailingFor == 0 {
		return h, bad(at+".failures", "0", "set failures, failingFor or both, or the rule can never fire")
	}
	if r.Successes != nil {
		if h.Successes = *r.Successes; h.Successes < 1 {
			return h, bad(at+".successes", fmt.Sprint(h.Successes), "want 1 or more consecutive healthy checks")
		}
	}
	return h, nil
}

func (r *rawThreshold) check(at string, bad failFunc) (ThresholdRule, error) {
	t := ThresholdRule{Condition: r.Condition, Metric: r.Metric, Mountpoint: r.Mountpoint, Op: r.Op,
		Severity: r.Severity, Reason: r.Reason, Message: r.Message, ClearReason: r.ClearReason, ClearMessage: r.ClearMessage}
	if err := checkCommon(at, &t.Condition, &t.Severity, t.Reason, t.ClearReason, bad); err != nil {
		return t, err
	}
	if t.metric = metricByName[t.Metric]; t.metric == nil {
		return t, bad(at+".metric", t.Metric, "unknown metric; see the package README for the list")
	}
	if t.Mountpoint != "" {
		if !t.metric.perMount {
			return t, bad(at+".mountpoint", t.Mountpoint, "only filesystem metrics have mount points")
		}
		if _, err := path.Match(t.Mountpoint, ""); err != nil {
			return t, bad(at+".mountpoint", t.Mountpoint, "bad pattern: %v", err)
		}
	}
	if !slices.Contains(ops, t.Op) {
		return t, bad(at+".op", t.Op, "want one of %s (quote it in YAML: op: \">\")", strings.Join(ops, ", "))
	}
	if r.Threshold == nil {
		return t, bad(at+".threshold", "", "missing")
	}
	t.Threshold = *r.Threshold
	if err := t.metric.checkBound(at+".threshold", t.Threshold, bad); err != nil {
		return t, err
	}
	t.ClearThreshold = t.Threshold
	if r.ClearThreshold != nil {
		t.ClearThreshold = *r.ClearThreshold
		if err := t.metric.checkBound(at+".clearThreshold", t.ClearThreshold, bad); err != nil {
			return t, err
		}
		// The clear bound must lie on the healthy side of the threshold, or a condition would
		// clear while the metric is still beyond the bound that set it.
		below := t.Op == "<" || t.Op == "<="
		if below && t.ClearThreshold < t.Threshold || !below && t.ClearThreshold > t.Threshold {
			side := "at or above"
			if !below {
				side = "at or below"
			}
			return t, bad(at+".clearThreshold", fmt.Sprint(t.ClearThreshold), "want a value %s the threshold %v", side, t.Threshold)
		}
	}
	var err error
	if t.For, err = duration(at+".for", r.For, bad); err != nil {
		return t, err
	}
	if t.ClearFor, err = duration(at+".clearFor", r.ClearFor, bad); err != nil {
		return t, err
	}
	return t, nil
}

// checkCommon checks the fields every rule has, and defaults the severity.
func checkCommon(at string, cond, severity *string, reason, clearReason string, bad failFunc) error {
	if !nameRe.MatchString(*cond) {
		return bad(at+".condition", *cond, "want a CamelCase name such as KubeletUnhealthy")
	}
	if slices.Contains(kubeletConditions, *cond) {
		return bad(at+".condition", *cond, "the kubelet sets this condition; choose another name (e.g. Node%s)", *cond)
	}
	switch *severity {
	case "":
		*severity = SeverityWarning
	case SeverityInfo, SeverityWarning, SeverityCritical:
	default:
		return bad(at+".severity", *severity, "want info, warning or critical")
	}
	if !nameRe.MatchString(reason) {
		return bad(at+".reason", reason, "want a CamelCase reason")
	}
	if !nameRe.MatchString(clearReason) {
		return bad(at+".clearReason", clearReason, "want a CamelCase reason")
	}
	return nil
}

// addCondition records the rule's condition. Several rules may set one condition (it is True
// while any of them fires) only if they agree on what the condition is.
func (c *Config) addCondition(at, source string, idx int, cond, severity, clearReason, clearMessage string, bad failFunc) error {
	want := Condition{Type: cond, Reason: clearReason, Message: clearMessage, Severity: severity, Source: source}
	for _, prev := range c.conds {
		if prev.Type != cond {
			continue
		}
		if prev != want {
			first := c.byCond[cond][0]
			return bad(at+".condition", cond, "also set by %sRules[%d] with a different kind, severity, clearReason or clearMessage; rules sharing a condition must agree on them",
				prev.Source, first)
		}
		c.byCond[cond] = append(c.byCond[cond], idx)
		return nil
	}
	c.conds = append(c.conds, want)
	c.byCond[cond] = []int{idx}
	return nil
}

package healthrules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"
)

// components reads `component`: one pattern or a list of them.
func components(field string, raw json.RawMessage, bad failFunc) ([]string, error) {
	var out []string
	var one string
	if len(raw) == 0 || string(raw) == "null" {
		return nil, bad(field, "", "missing; want a component name or pattern, or a list of them")
	}
	if err := json.Unmarshal(raw, &one); err == nil {
		out = []string{one}
	} else if err := json.Unmarshal(raw, &out); err != nil || len(out) == 0 {
		return nil, bad(field, shown(raw), "want a component name or pattern, or a non-empty list of them")
	}
	for i, p := range out {
		f := field
		if len(out) > 1 || raw[0] == '[' {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		if p == "" {
			return nil, bad(f, p, "empty")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, bad(f, p, "bad pattern: %v", err)
		}
	}
	return out, nil
}

// duration reads a Go duration string ("30s", "5m"); absent or null is zero.
func duration(field string, raw json.RawMessage, bad failFunc) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, bad(field, shown(raw), "want a duration with a unit, such as 30s or 5m")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad(field, s, "want a duration with a unit, such as 30s or 5m")
	}
	if d < 0 {
		return 0, bad(field, s, "negative")
	}
	return d, nil
}

// checkBound refuses thresholds a metric can never meet, such as 90 for a ratio.
func (m *metricDef) checkBound(field string, v float64, bad failFunc) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return bad(field, fmt.Sprint(v), "want a finite number")
	}
	switch m.unit {
	case unitRatio:
		if v < 0 || v > 1 {
			return bad(field, fmt.Sprint(v), "%s is a ratio from 0 to 1: write 0.9 for 90%%", m.name)
		}
	case unitPercent:
		if v < 0 || v > 100 {
			return bad(field, fmt.Sprint(v), "%s is a percentage from 0 to 100", m.name)
		}
	default:
		if v < 0 {
			return bad(field, fmt.Sprint(v), "%s is never negative", m.name)
		}
	}
	return nil
}

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(v any) []string {
	var out []string
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// shown is a raw value as an error shows it: a string unquoted, anything else as compact JSON,
// cut short.
func shown(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(bytes.TrimSpace(raw))
	}
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:77], "") + "..."
	}
	return s
}

// kindOf names the JSON kind of a raw value, for errors.
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '{':
		return "a mapping"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// kindName says what a Go type wants, in the operator's words.
func kindName(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int", "*int":
		return "a whole number"
	case "float64", "*float64":
		return "a number"
	}
	return goType
}

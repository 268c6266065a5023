package counter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nodewarden/nodewarden/services/detector/healthrules"
)

// isLogCounter reports whether a custom rule runs NPD's log-counter.
func isLogCounter(path string) bool { return strings.HasSuffix(path, "log-counter") }

// refuseScripts refuses a custom-plugin file with a rule that runs anything but log-counter,
// saying what replaces it in nodewarden: health rules for NPD's health-checker and other
// health scripts, threshold rules for resource checks.
func refuseScripts(path string, rules []rawRule) error {
	if len(rules) == 0 {
		return &LoadError{Path: path, Field: "rules", Value: "[]", Other: true, Reason: "no rules: a custom-plugin-monitor file " +
			"loads only when its rules run NPD's log-counter; for health checks and resource checks use nodewarden health " +
			"rules or threshold rules (--health-rules)"}
	}
	for i, r := range rules {
		if isLogCounter(r.Path) {
			continue
		}
		field := fmt.Sprintf("rules[%d].path", i)
		if strings.HasSuffix(r.Path, "health-checker") {
			return &LoadError{Path: path, Field: field, Value: r.Path, Other: true, Reason: healthCheckerReason(r)}
		}
		what := "a plugin script"
		if slices.ContainsFunc(rules, func(r rawRule) bool { return isLogCounter(r.Path) }) {
			what = "a plugin script beside log-counter rules (move the log-counter rules to a file of their own)"
		}
		return &LoadError{Path: path, Field: field, Value: r.Path, Other: true, Reason: what +
			", which nodewarden does not run: a custom-plugin-monitor file loads only when its rules run NPD's log-counter; " +
			"express the check as nodewarden health rules (a component's health reports, --health-rules) " +
			"or threshold rules (node samples: memory, disk, inodes, PSI) instead"}
	}
	return nil
}

// healthCheckerReason names the component NPD's health-checker watched and the health rule
// that replaces it.
func healthCheckerReason(r rawRule) string {
	comp := "the component"
	for i, a := range r.Args {
		if v, ok := strings.CutPrefix(a, "--component="); ok {
			comp = v
		} else if a == "--component" && i+1 < len(r.Args) {
			comp = r.Args[i+1]
		}
	}
	s := fmt.Sprintf("NPD's health-checker (--component=%s), which nodewarden does not run: "+
		"the collector checks %s health itself and nodewarden health rules (the detector's --health-rules) "+
		"turn its reports into a condition", comp, comp)
	if r.Condition != "" && slices.ContainsFunc(healthrules.Default().Conditions(), func(c healthrules.Condition) bool {
		return c.Type == r.Condition
	}) {
		s += fmt.Sprintf("; the shipped defaults already set %s (nodewarden rules defaults prints them)", r.Condition)
	}
	return s
}

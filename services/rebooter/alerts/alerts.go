// Package alerts decides whether alerts block a reboot, as kured's --prometheus-url does and,
// through the Alertmanager API v2, so that operators' silences and inhibitions apply. A Checker
// asks one source for the alerts now active, drops those the kured filter
// (--alert-filter-regexp, --alert-filter-match-only) or the caller's Ignore excludes, and
// returns the names of the rest. Check turns that into blocked-or-not with reasons, and treats
// a source it cannot reach as blocking (fail safe), because a silent monitoring outage is exactly
// when a reboot is least safe.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// Checker reports the names of the alerts that block a reboot now, sorted and without
// duplicates. ignore (nil for none) drops single alerts by their labels, e.g. the alert that
// nodewarden raised for the very condition that asked for this reboot. An error means the
// answer is unknown; callers must treat it as blocking (Check does).
type Checker interface {
	Blocking(ctx context.Context, ignore Ignore) ([]string, error)
}

// Ignore reports whether the alert with these labels must not block.
type Ignore func(labels map[string]string) bool

// Label names of the alerts nodewarden's alerter raises: alertname is the condition type.
const (
	LabelAlertName = "alertname"
	LabelNode      = "node"
)

// SelfAlert ignores the alert that nodewarden's alerter raised for condition on node, so that a
// reboot asked for by a condition is not blocked by the alert for that same condition. An empty
// condition or node ignores nothing.
func SelfAlert(condition, node string) Ignore {
	if condition == "" || node == "" {
		return nil
	}
	return func(labels map[string]string) bool {
		return labels[LabelAlertName] == condition && labels[LabelNode] == node
	}
}

// Filter is kured's alert-name filter.
type Filter struct {
	// Regexp names the alerts to ignore (kured's --alert-filter-regexp); nil ignores none.
	Regexp *regexp.Regexp
	// MatchOnly inverts Regexp: only alerts whose names match it block
	// (kured's --alert-filter-match-only).
	MatchOnly bool
}

// Blocks reports whether an alert called name blocks, by kured's rule: without a regexp every
// alert blocks; otherwise an alert blocks when whether it matches equals MatchOnly.
func (f Filter) Blocks(name string) bool {
	if f.Regexp == nil {
		return true
	}
	return f.Regexp.MatchString(name) == f.MatchOnly
}

// nameSet collects alert names; sorted returns them sorted, nil when empty.
type nameSet map[string]struct{}

func (s nameSet) sorted() []string {
	if len(s) == 0 {
		return nil
	}
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Multi asks every checker and blocks on the union of their alerts; any failing source makes
// the result an error (joined), still carrying the names the others returned.
type Multi []Checker

var _ Checker = Multi(nil)

// Blocking implements Checker.
func (m Multi) Blocking(ctx context.Context, ignore Ignore) ([]string, error) {
	set := nameSet{}
	var errs []error
	for _, c := range m {
		if c == nil {
			continue
		}
		names, err := c.Blocking(ctx, ignore)
		for _, n := range names {
			set[n] = struct{}{}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return set.sorted(), errors.Join(errs...)
}

// Check asks c and says whether the reboot is blocked and why: one reason per blocking alert
// name and one for a source that failed ("alert check failed: ..."). A nil c (no source
// configured, as kured without --prometheus-url) never blocks.
func Check(ctx context.Context, c Checker, ignore Ignore) (blocked bool, reasons []string) {
	if c == nil {
		return false, nil
	}
	names, err := c.Blocking(ctx, ignore)
	reasons = names
	if err != nil {
		reasons = append(reasons, fmt.Sprintf("alert check failed: %v", err))
	}
	return len(reasons) > 0, reasons
}

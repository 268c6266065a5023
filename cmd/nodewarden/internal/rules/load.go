package rules

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
	"github.com/nodewarden/nodewarden/services/detector/counter"
	"github.com/nodewarden/nodewarden/services/detector/healthrules"
	"github.com/nodewarden/nodewarden/services/detector/matcher"
)

// The kinds of rule file nodewarden reads.
const (
	KindLogMonitor = "system-log-monitor" // NPD's kernel-monitor.json and kin
	KindCounter    = "log-counter"        // NPD's kernel-monitor-counter.json
	KindHealth     = "health rules"       // nodewarden's health and threshold rules (YAML)
)

// ruleFile is one loaded rule file, whichever its kind.
type ruleFile struct {
	path   string
	kind   string
	mon    *npdconfig.Monitor
	set    *matcher.Set
	ctr    *counter.File
	health *healthrules.Config
}

// loadFile reads a rule file and loads it as the kind its contents say: health rules when it
// is YAML or holds healthRules/thresholdRules, counter rules for a custom-plugin file (which
// refuses script plugins), a system-log-monitor file otherwise (which refuses system-stats
// files). Every error is a configuration error naming the file.
func loadFile(path string) (*ruleFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// A LoadError is a configuration error that reads "load FILE: read: ...".
		return nil, &npdconfig.LoadError{Path: path, Reason: "read", Err: err}
	}
	f := &ruleFile{path: path}
	var top map[string]json.RawMessage
	jsonErr := json.Unmarshal(data, &top)
	ext := strings.ToLower(filepath.Ext(path))
	_, hasHealth := top["healthRules"]
	_, hasThreshold := top["thresholdRules"]
	var plugin string
	_ = json.Unmarshal(top["plugin"], &plugin)
	switch {
	case ext == ".yaml" || ext == ".yml" || hasHealth || hasThreshold || (jsonErr != nil && ext != ".json"):
		f.kind = KindHealth
		f.health, err = healthrules.Parse(path, data)
	case plugin == counter.Plugin:
		f.kind = KindCounter
		f.ctr, err = counter.Parse(path, data)
	default:
		f.kind = KindLogMonitor
		if f.mon, err = npdconfig.Parse(path, data); err == nil {
			f.set, err = matcher.Compile(f.mon)
		}
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// summary is what `rules check` says about a good file: its kind and its rules.
func (f *ruleFile) summary() string {
	switch f.kind {
	case KindLogMonitor:
		return fmt.Sprintf("%s, %s, source %s", f.kind, plural(len(f.mon.Rules), "rule"), f.mon.Source)
	case KindCounter:
		return fmt.Sprintf("%s, %s, reads %s", f.kind, plural(len(f.ctr.Rules), "rule"), strings.Join(f.ctr.Sources(), ", "))
	default:
		h, t := len(f.health.HealthRules), len(f.health.ThresholdRules)
		return fmt.Sprintf("%s, %s: %d health, %d threshold", f.kind, plural(h+t, "rule"), h, t)
	}
}

// warnings are what a good file holds that nodewarden ignores.
func (f *ruleFile) warnings() []string {
	if f.mon == nil {
		return nil
	}
	var out []string
	for _, k := range f.mon.Unknown {
		out = append(out, fmt.Sprintf("unknown field %q ignored (as NPD ignores it)", k))
	}
	return out
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

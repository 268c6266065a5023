package collector

import (
	_ "embed"

	"github.com/nodewarden/nodewarden/servicekit/npdconfig"
)

// defaultMonitor is NPD's kernel-monitor.json, unchanged (a test keeps it identical to the
// compat copy): with no --log-monitor the collector watches the kernel log as NPD does.
//
//go:embed monitors/kernel-monitor.json
var defaultMonitor []byte

// defaultMonitorName names the built-in file in logs and errors.
const defaultMonitorName = "(built in) kernel-monitor.json"

// loadMonitors loads the --log-monitor files; errors name the file, field and value and are
// configuration errors (exit 2).
func (c *Config) loadMonitors() ([]*npdconfig.Monitor, error) {
	switch {
	case len(c.LogMonitors) == 1 && c.LogMonitors[0] == "none":
		return nil, nil
	case len(c.LogMonitors) == 0:
		m, err := npdconfig.Parse(defaultMonitorName, defaultMonitor)
		if err != nil {
			return nil, err
		}
		return []*npdconfig.Monitor{m}, nil
	}
	return npdconfig.LoadAll(c.LogMonitors)
}

package logwatch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// hostPath is p (an absolute path on the host) under the host root.
func hostPath(root, p string) string {
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, p)
}

// readBootID is the host's boot id, which changes on every boot; "" when unreadable.
func readBootID(root string) string {
	b, err := os.ReadFile(hostPath(root, "/proc/sys/kernel/random/boot_id"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readBootTime is when the host booted: btime of /proc/stat, else now − /proc/uptime.
func readBootTime(root string, now time.Time) (time.Time, error) {
	statPath := hostPath(root, "/proc/stat")
	f, err := os.Open(statPath)
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("btime ")); ok {
				if s, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err == nil && s > 0 {
					return time.Unix(s, 0), nil
				}
			}
		}
	}
	up, uerr := os.ReadFile(hostPath(root, "/proc/uptime"))
	if uerr == nil {
		if fields := strings.Fields(string(up)); len(fields) > 0 {
			if s, err := strconv.ParseFloat(fields[0], 64); err == nil {
				return now.Add(-time.Duration(s * float64(time.Second))), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("boot time: no btime in %s (%v) and no uptime (%v)", statPath, err, uerr)
}

// hostLocation is the host's time zone (its /etc/localtime), for log files whose timestamps
// carry none: the collector's container often runs in UTC while syslog writes local time.
func hostLocation(root string) *time.Location {
	data, err := os.ReadFile(hostPath(root, "/etc/localtime"))
	if err != nil {
		return time.Local
	}
	loc, err := time.LoadLocationFromTZData("Local", data)
	if err != nil {
		return time.Local
	}
	return loc
}

// startTime is the oldest line a fresh reader publishes, as NPD computes it: now − lookback,
// but never before boot + delay.
func startTime(now, boot time.Time, lookback, delay time.Duration) time.Time {
	start := now.Add(-lookback)
	if !boot.IsZero() && boot.Add(delay).After(start) {
		start = boot.Add(delay)
	}
	return start
}

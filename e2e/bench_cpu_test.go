package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go runs tests on here.
const clockTicks = 100

// procCPU is the user+system CPU time process pid has spent, from /proc/<pid>/stat ("self"
// for this process).
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, fmt.Errorf("read stat of %s: %w", pid, err)
	}
	// The command name may hold spaces and parentheses: the fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat of %s: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 { // state is f[0]; utime and stime are stat's fields 14 and 15
		return 0, fmt.Errorf("stat of %s: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat of %s: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procPID is the pid of a harness process's current run, "" when it is not running.
func procPID(p *Proc) string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return ""
	}
	return strconv.Itoa(p.cmd.Process.Pid)
}

// childPID finds this process's child whose command name is comm (testenv starts InfluxDB as
// our child and keeps its pid to itself), "" when there is none.
func childPID(comm string) string {
	self := strconv.Itoa(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if s[open+1:end] == comm && len(f) > 1 && f[1] == self {
			return filepath.Base(d)
		}
	}
	return ""
}

// cpuMeter snapshots the CPU time of named processes.
type cpuMeter struct {
	pids map[string]string // name → pid
}

// snapshot reads every process's CPU time; a process that cannot be read is left out.
func (m cpuMeter) snapshot() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		if pid == "" {
			continue
		}
		if d, err := procCPU(pid); err == nil {
			out[name] = d
		}
	}
	return out
}

// cpuDelta is after − before per process present in both.
func cpuDelta(before, after map[string]time.Duration) map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, a := range after {
		if b, ok := before[k]; ok {
			out[k] = a - b
		}
	}
	return out
}

func numCPU() int { return runtime.NumCPU() }

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Node is a simulated node: a host root directory that its collector reads as the host's /,
// with a kernel log the test writes, its own boot id and the reboot sentinel; and, when the
// options ask, its own collector and rebooter processes and a kubelet.
//
// Layout under Root: dev/kmsg (a regular file of kmsg records: the collector's kmsg reader
// polls plain files), proc/sys/kernel/random/boot_id (this node's; the reboot program
// changes it), the other proc entries the collector reads as symlinks to the real /proc, sys
// → /sys, and var/run/reboot-required (absent until TouchSentinel).
type Node struct {
	Name     string
	Root     string
	StateDir string // the collector's --state-dir

	Collector *Proc
	Rebooter  *Proc // nil unless Options.Rebooter

	mu  sync.Mutex
	seq uint64 // the last kmsg sequence number written
}

// procLinks are the /proc entries the collector reads (node samples, boot time, mounts);
// linking these few instead of all of /proc keeps the tree small.
var procLinks = []string{"stat", "loadavg", "meminfo", "uptime", "net", "pressure", "1", "self", "mounts",
	"cpuinfo", "diskstats", "vmstat"}

func newNode(t *testing.T, dir, name string) *Node {
	t.Helper()
	n := &Node{Name: name, Root: filepath.Join(dir, "nodes", name), StateDir: filepath.Join(dir, "state", name)}
	for _, d := range []string{"dev", "proc/sys/kernel/random", "var/run"} {
		if err := os.MkdirAll(filepath.Join(n.Root, d), 0o755); err != nil {
			t.Fatalf("node %s: %v", name, err)
		}
	}
	if err := os.MkdirAll(n.StateDir, 0o755); err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	for _, e := range procLinks {
		if _, err := os.Lstat("/proc/" + e); err != nil {
			continue // e.g. no /proc/pressure on this kernel
		}
		if err := os.Symlink("/proc/"+e, filepath.Join(n.Root, "proc", e)); err != nil {
			t.Fatalf("node %s: %v", name, err)
		}
	}
	if err := os.Symlink("/sys", filepath.Join(n.Root, "sys")); err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	if err := os.WriteFile(n.KmsgPath(), nil, 0o644); err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	if err := n.NewBootID(); err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	return n
}

// KmsgPath is the node's /dev/kmsg, a plain file of records.
func (n *Node) KmsgPath() string { return filepath.Join(n.Root, "dev", "kmsg") }

// BootIDFile is the node's /proc/sys/kernel/random/boot_id (the rebooter's --boot-id-file).
func (n *Node) BootIDFile() string {
	return filepath.Join(n.Root, "proc", "sys", "kernel", "random", "boot_id")
}

// SentinelPath is the node's /var/run/reboot-required.
func (n *Node) SentinelPath() string { return filepath.Join(n.Root, "var", "run", "reboot-required") }

// BootID returns the node's current boot id.
func (n *Node) BootID() string {
	b, _ := os.ReadFile(n.BootIDFile())
	return string(bytes.TrimSpace(b))
}

// NewBootID gives the node a new boot id, as booting does.
func (n *Node) NewBootID() error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	// Write then rename, so a reader never sees a half-written id.
	tmp := n.BootIDFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return fmt.Errorf("write boot id: %w", err)
	}
	if err := os.Rename(tmp, n.BootIDFile()); err != nil {
		return fmt.Errorf("replace boot id: %w", err)
	}
	return nil
}

// TouchSentinel creates /var/run/reboot-required, as a package upgrade does.
func (n *Node) TouchSentinel(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(n.SentinelPath(), nil, 0o644); err != nil {
		t.Fatalf("touch sentinel of %s: %v", n.Name, err)
	}
}

// Kmsg appends one kernel record (level 0-7) with message, timed now, to the node's kernel log,
// with the next sequence number, and returns that number.
func (n *Node) Kmsg(t testing.TB, level int, message string) uint64 {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	usec := time.Since(hostBootTime(t)).Microseconds()
	rec := fmt.Sprintf("%d,%d,%d,-;%s\n", level, n.seq, usec, message)
	f, err := os.OpenFile(n.KmsgPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("kmsg of %s: %v", n.Name, err)
	}
	// One write per record: the reader never sees half a line (it waits for the newline anyway).
	if _, err := f.WriteString(rec); err != nil {
		_ = f.Close()
		t.Fatalf("kmsg of %s: %v", n.Name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("kmsg of %s: %v", n.Name, err)
	}
	return n.seq
}

var (
	bootTimeOnce sync.Once
	bootTime     time.Time
	bootTimeErr  error
)

// hostBootTime is btime of /proc/stat: the collector times kernel records as boot time plus
// their microseconds, and the simulated nodes share the real /proc/stat.
func hostBootTime(t testing.TB) time.Time {
	t.Helper()
	bootTimeOnce.Do(func() {
		f, err := os.Open("/proc/stat")
		if err != nil {
			bootTimeErr = err
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("btime ")); ok {
				s, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
				if err != nil {
					bootTimeErr = fmt.Errorf("parse btime: %w", err)
					return
				}
				bootTime = time.Unix(s, 0)
				return
			}
		}
		bootTimeErr = fmt.Errorf("no btime in /proc/stat")
	})
	if bootTimeErr != nil {
		t.Fatalf("host boot time: %v", bootTimeErr)
	}
	return bootTime
}

package matcher

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// readKmsg returns the messages this machine's kernel ring buffer holds now, reading
// /dev/kmsg without blocking (each read is one record: "prio,seq,usec,flags;message\n",
// then dictionary lines that start with a space).
func readKmsg(t *testing.T) []string {
	t.Helper()
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("/dev/kmsg is not readable here (%v): the real-kernel-line comparison needs it", err)
	}
	defer syscall.Close(fd)
	var out []string
	buf := make([]byte, 16<<10)
	for {
		n, err := syscall.Read(fd, buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return out
		case errors.Is(err, syscall.EPIPE):
			continue // records were overwritten while reading; go on from the oldest kept
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			t.Skipf("read /dev/kmsg: %v", err)
		}
		_, msg, ok := strings.Cut(string(buf[:n]), ";")
		if !ok {
			continue
		}
		msg, _, _ = strings.Cut(msg, "\n")
		out = append(out, msg)
	}
}

// TestEquivalenceKmsg compares the matcher with NPD's algorithm on the real kernel lines of
// this machine, with every loadable NPD file, at its own buffer size and at 2.
func TestEquivalenceKmsg(t *testing.T) {
	lines := readKmsg(t)
	if len(lines) == 0 {
		t.Skip("/dev/kmsg holds no records")
	}
	t.Logf("%d kernel lines from /dev/kmsg", len(lines))
	for _, mon := range allMonitors(t, 2) {
		compare(t, mon, lines)
	}
}

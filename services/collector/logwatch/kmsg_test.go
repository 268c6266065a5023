package logwatch

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/services/collector/logwatch/kmsg"
)

// The fake host's clock reads 1000 s after boot, so kernel-monitor.json's 5 minute lookback
// starts at 700 s.
var kmsgNow = testBoot.Add(1000 * time.Second)

func fixedNow() time.Time { return kmsgNow }

// TestKmsgFakeDevice runs NPD's kernel-monitor.json against a fake /dev/kmsg under the host
// root, with records appended while the watcher runs.
func TestKmsgFakeDevice(t *testing.T) {
	root := newHost(t)
	appendFile(t, root, "dev/kmsg",
		kmsgRecord(6, 0, 0, "Linux version 6.1.0")+
			kmsgRecord(4, 1, 650*time.Second, "before the lookback")+
			kmsgRecord(3, 2, 800*time.Second, "  Out of memory: Killed process 42 (stress) total-vm:1kB, anon-rss:1kB, file-rss:0kB  ")+
			" SUBSYSTEM=memory\n DEVICE=+memory:x\n"+
			kmsgRecord(14, 3, 801*time.Second, "systemd[1]: Started kubelet.service."))
	s := &sink{}
	r := start(t, compatMonitor(t, "kernel-monitor.json"), Options{HostRoot: root, Now: fixedNow}, s)
	waitFor(t, 10*time.Second, "the first records", func() bool { return len(s.lines()) == 2 })
	appendFile(t, root, "dev/kmsg", kmsgRecord(0, 4, 900*time.Second, "Kernel panic - not syncing")+
		"garbage without a prefix\n"+kmsgRecord(6, 5, 901*time.Second, "last"))
	waitFor(t, 10*time.Second, "the appended records", func() bool { return len(s.lines()) == 4 })
	r.stop()

	got := s.lines()
	want := []struct {
		seq  uint64
		prio int32
		at   time.Duration
		msg  string
	}{
		{2, 3, 800 * time.Second, "Out of memory: Killed process 42 (stress) total-vm:1kB, anon-rss:1kB, file-rss:0kB"},
		{3, 6, 801 * time.Second, "systemd[1]: Started kubelet.service."},
		{4, 0, 900 * time.Second, "Kernel panic - not syncing"},
		{5, 6, 901 * time.Second, "last"},
	}
	for i, w := range want {
		l := got[i]
		if l.Seq != w.seq || l.Priority != w.prio || !l.Time.AsTime().Equal(testBoot.Add(w.at)) || l.Message != w.msg {
			t.Errorf("line %d: %v, want %+v", i, l, w)
		}
	}
	batches := s.snapshot()
	checkBatches(t, batches, "ip-10-0-0-1.ec2.internal", "kernel-monitor")
	if batches[0].StreamId != "kmsg:"+testBootID {
		t.Errorf("stream id %q", batches[0].StreamId)
	}
	c := r.w.Counts()
	if c.LinesRead != 7 || c.LinesSkipped != 2 || c.ParseErrors != 1 || c.LinesPublished != 4 || c.LinesLost != 0 || r.w.Status() != nil {
		t.Errorf("counts %+v, status %v", c, r.w.Status())
	}
}

// TestKmsgRestartResume stops a collector mid-stream, once while a publish is failing, and
// checks that across restarts every record is published exactly once.
func TestKmsgRestartResume(t *testing.T) {
	root := newHost(t)
	stateDir := t.TempDir()
	mon := compatMonitor(t, "kernel-monitor.json")
	var seq uint64
	add := func(n int) {
		var b strings.Builder
		for range n {
			b.WriteString(kmsgRecord(6, seq, 800*time.Second+time.Duration(seq)*time.Millisecond, "record"))
			seq++
		}
		appendFile(t, root, "dev/kmsg", b.String())
	}
	s := &sink{}
	opts := Options{HostRoot: root, StateDir: stateDir, Now: fixedNow, MaxLines: 7}

	add(20)
	r := start(t, mon, opts, s)
	waitFor(t, 10*time.Second, "20 records", func() bool { return len(s.lines()) == 20 })
	r.stop()

	// The second run's publishes fail after its first batch: it is stopped with lines read
	// but never published.
	add(20)
	base := len(s.snapshot())
	s.mu.Lock()
	s.fail = func(int) error { // called with s.mu held
		if len(s.batches) > base {
			return errors.New("nats: no responders")
		}
		return nil
	}
	s.mu.Unlock()
	r = start(t, mon, opts, s)
	waitFor(t, 10*time.Second, "a failing publish", func() bool { return r.w.Counts().PublishErrors > 0 })
	r.stop()
	if n := len(s.lines()); n >= 40 {
		t.Fatalf("%d lines published while publishing failed", n)
	}

	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	add(5)
	r = start(t, mon, opts, s)
	waitFor(t, 10*time.Second, "all 45 records", func() bool { return len(s.lines()) >= 45 })
	r.stop()

	seen := map[uint64]int{}
	for _, l := range s.lines() {
		seen[l.Seq]++
	}
	for i := uint64(0); i < seq; i++ {
		if seen[i] != 1 {
			t.Errorf("record %d published %d times", i, seen[i])
		}
	}
	if len(seen) != int(seq) {
		t.Errorf("%d distinct records published, want %d", len(seen), seq)
	}
	checkBatches(t, s.snapshot(), "ip-10-0-0-1.ec2.internal", "kernel-monitor")
}

// A state from another boot is not resumed: the kernel's sequences started again.
func TestKmsgNewBoot(t *testing.T) {
	root := newHost(t)
	stateDir := t.TempDir()
	st := &state{Version: stateVersion, Source: "kernel-monitor", Plugin: "kmsg", LogPath: "/dev/kmsg",
		StreamID: "kmsg:old-boot", BootID: "old-boot", LastSeq: 1000}
	path, _ := statePath(stateDir, "kernel-monitor")
	if err := st.save(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, root, "dev/kmsg", kmsgRecord(6, 0, 0, "old")+kmsgRecord(6, 1, 950*time.Second, "new boot"))
	s := &sink{}
	r := start(t, compatMonitor(t, "kernel-monitor.json"), Options{HostRoot: root, StateDir: stateDir, Now: fixedNow}, s)
	waitFor(t, 10*time.Second, "the new boot's record", func() bool { return len(s.lines()) == 1 })
	r.stop()
	if b := s.snapshot()[0]; b.StreamId != "kmsg:"+testBootID || b.FirstSeq != 1 || b.Lines[0].Message != "new boot" {
		t.Fatalf("batch %v", b)
	}
	saved, err := loadState(path)
	if err != nil || saved.BootID != testBootID || saved.LastSeq != 1 {
		t.Fatalf("saved state %+v, %v", saved, err)
	}
}

// overrunDevice plays /dev/kmsg: one record per read, EPIPE where the script says.
type overrunDevice struct {
	mu     sync.Mutex
	script []string // "" means EPIPE
}

func (d *overrunDevice) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.script) == 0 {
		return 0, io.EOF
	}
	next := d.script[0]
	d.script = d.script[1:]
	if next == "" {
		return 0, &os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EPIPE}
	}
	return copy(p, next), nil
}

func (d *overrunDevice) Close() error { return nil }

func TestKmsgOverrun(t *testing.T) {
	root := newHost(t)
	dev := &overrunDevice{script: []string{
		kmsgRecord(6, 10, 800*time.Second, "a"), kmsgRecord(6, 11, 800*time.Second, "b"),
		"", // the kernel overwrote 12..16 before they were read
		kmsgRecord(6, 17, 801*time.Second, "c"), kmsgRecord(6, 18, 801*time.Second, "d"),
	}}
	s := &sink{}
	r := start(t, compatMonitor(t, "kernel-monitor.json"), Options{HostRoot: root, Now: fixedNow, MaxDelay: time.Second}, s,
		func(w *Watcher) {
			w.openKmsg = func(string) (*kmsg.Reader, error) { return kmsg.NewReader(dev, "/dev/kmsg"), nil }
		})
	waitFor(t, 10*time.Second, "4 records", func() bool { return len(s.lines()) == 4 })
	r.stop()
	batches := s.snapshot()
	checkBatches(t, batches, "ip-10-0-0-1.ec2.internal", "kernel-monitor")
	// The gap ends a batch, however long MaxDelay is, so the detector sees it between batches.
	if len(batches) != 2 || batches[0].FirstSeq != 10 || batches[1].FirstSeq != 17 {
		t.Fatalf("batches %v", batches)
	}
	if c := r.w.Counts(); c.Overruns != 1 || c.LinesLost != 5 || c.LinesPublished != 4 {
		t.Fatalf("counts %+v", c)
	}
}

// Where the kernel log cannot be read the watcher says why and stops; the others go on.
func TestKmsgUnavailable(t *testing.T) {
	root := newHost(t) // no dev/kmsg
	appendFile(t, root, "var/log/kern.log", "Nov 14 22:25:00 node kernel: [ 1.0] hello\n")
	kernel := &sink{}
	files := &sink{}
	k := start(t, compatMonitor(t, "kernel-monitor.json"), Options{HostRoot: root, Now: fixedNow}, kernel)
	f := start(t, monitor(t, `{"plugin":"filelog","logPath":"/var/log/kern.log","source":"kern-file","lookback":"87600h",
		"pluginConfig":{"timestamp":"^.{15}","message":"kernel: \\[.*\\] (.*)","timestampFormat":"Jan _2 15:04:05"}}`),
		Options{HostRoot: root, Now: fixedNow}, files)
	waitFor(t, 10*time.Second, "the kmsg status", func() bool { return k.w.Status() != nil })
	err := k.w.Status()
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), root+"/dev/kmsg") {
		t.Fatalf("status %v", err)
	}
	waitFor(t, 10*time.Second, "the file watcher's line", func() bool { return files.messages() == "hello" })
	if f.w.Status() != nil || len(kernel.snapshot()) != 0 {
		t.Fatalf("file status %v, kernel batches %v", f.w.Status(), kernel.snapshot())
	}
}

// TestKmsgRealDevice reads this machine's /dev/kmsg through the whole watcher.
func TestKmsgRealDevice(t *testing.T) {
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		t.Skipf("/dev/kmsg cannot be read here (%v): needs Linux and root or CAP_SYSLOG", err)
	}
	f.Close()
	bootID := readBootID("/")
	boot, err := readBootTime("/", time.Now())
	if err != nil || bootID == "" {
		t.Skipf("no boot id or boot time under /proc: %v", err)
	}
	// The kernel-monitor file with a lookback reaching back to boot.
	mon := monitor(t, `{"plugin":"kmsg","logPath":"/dev/kmsg","lookback":"876000h","source":"kernel-monitor"}`)
	s := &sink{}
	r := start(t, mon, Options{HostRoot: "/", Now: time.Now, Location: time.Local}, s)
	waitFor(t, 10*time.Second, "a real kernel record", func() bool { return len(s.lines()) > 0 })
	r.stop()
	b := s.snapshot()[0]
	checkBatches(t, s.snapshot(), "ip-10-0-0-1.ec2.internal", "kernel-monitor")
	l := b.Lines[0]
	if b.StreamId != "kmsg:"+bootID || l.Priority < 0 || l.Priority > 7 || l.Message == "" ||
		l.Time.AsTime().Before(boot) || l.Time.AsTime().After(time.Now()) {
		t.Fatalf("real record %v in batch %v (boot %v)", l, b, boot)
	}
	if c := r.w.Counts(); c.ParseErrors != 0 {
		t.Fatalf("real records failed to parse: %+v", c)
	}
}

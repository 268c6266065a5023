package logwatch

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func kmsgRecords(from, to uint64) string {
	var b strings.Builder
	for s := from; s <= to; s++ {
		b.WriteString(kmsgRecord(6, s, 800*time.Second, "line"))
	}
	return b.String()
}

func TestBatchLimits(t *testing.T) {
	tests := []struct {
		name     string
		records  uint64
		maxLines int
		maxDelay time.Duration
		sizes    []int
	}{
		// A backlog goes out in full batches at once; the rest waits for MaxDelay.
		{name: "full batches", records: 1200, maxDelay: time.Second, sizes: []int{500, 500, 200}},
		{name: "smaller MaxLines", records: 10, maxLines: 4, maxDelay: time.Second, sizes: []int{4, 4, 2}},
		// One line alone is published after MaxDelay.
		{name: "one line", records: 1, maxDelay: 10 * time.Millisecond, sizes: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newHost(t)
			appendFile(t, root, "dev/kmsg", kmsgRecords(1, tt.records))
			s := &sink{}
			r := start(t, compatMonitor(t, "kernel-monitor.json"), Options{HostRoot: root, Now: fixedNow,
				MaxLines: tt.maxLines, MaxDelay: tt.maxDelay}, s)
			waitFor(t, 10*time.Second, "every record", func() bool { return len(s.lines()) == int(tt.records) })
			r.stop()
			batches := s.snapshot()
			checkBatches(t, batches, "ip-10-0-0-1.ec2.internal", "kernel-monitor")
			var sizes []int
			for _, b := range batches {
				sizes = append(sizes, len(b.Lines))
			}
			if len(sizes) != len(tt.sizes) {
				t.Fatalf("batch sizes %v, want %v", sizes, tt.sizes)
			}
			for i := range sizes {
				if sizes[i] != tt.sizes[i] {
					t.Fatalf("batch sizes %v, want %v", sizes, tt.sizes)
				}
			}
		})
	}
}

// Lines trickling in are gathered for MaxDelay rather than sent one by one.
func TestBatchMaxDelayGathers(t *testing.T) {
	root := newHost(t)
	appendFile(t, root, "dev/kmsg", "")
	s := &sink{}
	r := start(t, compatMonitor(t, "kernel-monitor.json"), Options{HostRoot: root, Now: fixedNow, MaxDelay: 300 * time.Millisecond}, s)
	for i := uint64(1); i <= 20; i++ {
		appendFile(t, root, "dev/kmsg", kmsgRecords(i, i))
		time.Sleep(5 * time.Millisecond) // the pace of the trickle, not a wait for a result
	}
	waitFor(t, 10*time.Second, "20 lines", func() bool { return len(s.lines()) == 20 })
	r.stop()
	// 20 lines over ~100ms+ with a 300ms MaxDelay: one or two batches, never one per line.
	if n := len(s.snapshot()); n > 3 {
		t.Fatalf("%d batches for 20 lines within one MaxDelay", n)
	}
}

// A failing publish is retried with the same batch: nothing lost, nothing reordered.
func TestPublishRetry(t *testing.T) {
	root := newHost(t)
	appendFile(t, root, "dev/kmsg", kmsgRecords(1, 30))
	s := &sink{fail: func(n int) error {
		if n <= 3 {
			return errors.New("nats: timeout")
		}
		return nil
	}}
	r := start(t, compatMonitor(t, "kernel-monitor.json"), Options{HostRoot: root, Now: fixedNow, MaxLines: 10}, s)
	waitFor(t, 10*time.Second, "30 lines", func() bool { return len(s.lines()) == 30 })
	r.stop()
	for i, l := range s.lines() {
		if l.Seq != uint64(i+1) {
			t.Fatalf("line %d has seq %d", i, l.Seq)
		}
	}
	if c := r.w.Counts(); c.PublishErrors != 3 || c.BatchesPublished != 3 || c.LinesPublished != 30 {
		t.Fatalf("counts %+v", c)
	}
}

func TestStateFile(t *testing.T) {
	tests := []struct {
		name      string
		content   string // "" writes no file
		resumed   bool
		stateErrs uint64
	}{
		{name: "none"},
		{name: "valid", content: `{"version":1,"source":"kernel-monitor","plugin":"kmsg","logPath":"/dev/kmsg","streamId":"kmsg:b","lastSeq":7,"bootId":"b"}`, resumed: true},
		{name: "corrupt", content: `{"version":1,"source":`, stateErrs: 1},
		{name: "future version", content: `{"version":2,"source":"kernel-monitor","plugin":"kmsg","logPath":"/dev/kmsg"}`, stateErrs: 1},
		{name: "another plugin", content: `{"version":1,"source":"kernel-monitor","plugin":"filelog","logPath":"/var/log/kern.log","lastSeq":9}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := New(compatMonitor(t, "kernel-monitor.json"), Options{StateDir: dir, Node: "n"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.content != "" {
				if err := os.WriteFile(w.statePath, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			st := w.resumeState()
			if st.resumed != tt.resumed || w.Counts().StateErrors != tt.stateErrs || st.Source != "kernel-monitor" || st.Plugin != "kmsg" {
				t.Fatalf("state %+v, counts %+v", st, w.Counts())
			}
			if tt.resumed && st.LastSeq != 7 {
				t.Fatalf("state %+v", st)
			}
			// Saving replaces the file whole and leaves no temporary file behind.
			st.LastSeq = 42
			if err := st.save(w.statePath); err != nil {
				t.Fatal(err)
			}
			again, err := loadState(w.statePath)
			if err != nil || again.LastSeq != 42 {
				t.Fatalf("reloaded %+v, %v", again, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != "logwatch-kernel-monitor.json" {
				t.Fatalf("state dir holds %v", entries)
			}
		})
	}
}

package journald

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseEntry(t *testing.T) {
	const cursor = "s=54fc;i=1;b=1698;m=3e8;t=6611f047f67ce;x=6862"
	tests := []struct {
		name string
		line string
		want Entry
		err  bool
	}{
		{name: "string message", line: `{"__REALTIME_TIMESTAMP":"1795635707602894","PRIORITY":"3","MESSAGE":"  hello world\n","__CURSOR":"` + cursor + `","SYSLOG_IDENTIFIER":"dockerd"}`,
			want: Entry{Time: time.UnixMicro(1795635707602894), Priority: 3, Message: "hello world", Cursor: cursor}},
		{name: "byte array message", line: `{"__REALTIME_TIMESTAMP":"1","MESSAGE":[104,105,255,10],"__CURSOR":"c"}`,
			want: Entry{Time: time.UnixMicro(1), Priority: -1, Message: "hi\xff", Cursor: "c"}},
		{name: "null message (too large without --all)", line: `{"__REALTIME_TIMESTAMP":"1","MESSAGE":null,"__CURSOR":"c"}`,
			want: Entry{Time: time.UnixMicro(1), Priority: -1, Cursor: "c"}},
		{name: "no message", line: `{"__REALTIME_TIMESTAMP":"1","__CURSOR":"c","PRIORITY":"9"}`,
			want: Entry{Time: time.UnixMicro(1), Priority: -1, Cursor: "c"}},
		{name: "not json", line: `-- No entries --`, err: true},
		{name: "no timestamp", line: `{"MESSAGE":"x","__CURSOR":"c"}`, err: true},
		{name: "no cursor", line: `{"__REALTIME_TIMESTAMP":"1","MESSAGE":"x"}`, err: true},
		{name: "message number", line: `{"__REALTIME_TIMESTAMP":"1","MESSAGE":5,"__CURSOR":"c"}`, err: true},
		{name: "message byte out of range", line: `{"__REALTIME_TIMESTAMP":"1","MESSAGE":[300],"__CURSOR":"c"}`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEntry([]byte(tt.line))
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !e.Time.Equal(tt.want.Time) || e.Priority != tt.want.Priority || e.Message != tt.want.Message || e.Cursor != tt.want.Cursor {
				t.Fatalf("got %+v, want %+v", e, tt.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	base := "--output=json --follow --no-tail --no-pager --quiet --all --identifier=dockerd "
	since := time.Unix(1700000000, 900000000)
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"this host", Query{Identifier: "dockerd", Root: "/", Since: since}, base + "--since=@1700000000"},
		{"host root", Query{Identifier: "dockerd", Root: "/host", Since: since}, base + "--root=/host --since=@1700000000"},
		{"directory", Query{Identifier: "dockerd", Root: "/host", Directory: "/host/var/log/journal", AfterCursor: "s=1;i=2"},
			base + "--directory=/host/var/log/journal --after-cursor=s=1;i=2"},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.q.Args(), " "); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// fakeJournalctl writes a script that records its arguments, prints out and then either
// follows forever or exits with code after writing stderr.
func fakeJournalctl(t *testing.T, out string, code int, stderr string) (path, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	outFile := filepath.Join(dir, "out")
	if err := os.WriteFile(outFile, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	end := "exec sleep 3600"
	if code != 0 {
		end = fmt.Sprintf("echo %q >&2; exit %d", stderr, code)
	}
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" > %s\ncat %s\n%s\n", argsFile, outFile, end)
	path = filepath.Join(dir, "journalctl")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, argsFile
}

func TestReaderFake(t *testing.T) {
	out := `{"__REALTIME_TIMESTAMP":"1000000","MESSAGE":"Started kubelet.service.","__CURSOR":"c1","PRIORITY":"6"}
not json
{"__REALTIME_TIMESTAMP":"2000000","MESSAGE":"Starting containerd.service...","__CURSOR":"c2"}
`
	bin, argsFile := fakeJournalctl(t, out, 0, "")
	r, err := Start(context.Background(), bin, Query{Identifier: "systemd", AfterCursor: "c0"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Next()
	if err != nil || e.Message != "Started kubelet.service." || e.Cursor != "c1" || e.Priority != 6 {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if e, err := r.Next(); err != nil || e.Cursor != "c2" {
		t.Fatalf("%+v %v", e, err)
	}
	args, _ := os.ReadFile(argsFile)
	if !strings.Contains(string(args), "--identifier=systemd") || !strings.Contains(string(args), "--after-cursor=c0") {
		t.Fatalf("args %q", args)
	}
	// The script now sleeps, as journalctl --follow waits; Close must end it.
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop journalctl")
	}
}

func TestReaderExit(t *testing.T) {
	bin, _ := fakeJournalctl(t, "", 1, "Failed to open /host/var/log/journal: No such file or directory")
	r, err := Start(context.Background(), bin, Query{Identifier: "dockerd"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exit status 1") ||
		!strings.Contains(err.Error(), "Failed to open /host/var/log/journal") {
		t.Fatalf("err = %v", err)
	}
}

// exportEntry is one entry in the journal export format; MESSAGE is written in its binary
// form so it may hold any byte.
func exportEntry(usec int64, ident, msg string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=1698d861ff7648b5a8e7907476029275\nSYSLOG_IDENTIFIER=%s\nPRIORITY=4\nMESSAGE\n", usec, usec%1000000+1, ident)
	binary.Write(&b, binary.LittleEndian, uint64(len(msg)))
	b.WriteString(msg + "\n\n")
	return b.Bytes()
}

// TestReaderRealJournal reads a real journal file with the real journalctl. There is no
// journald running here, so the file is written by systemd-journal-remote from the export
// format; the test skips where either tool is missing.
func TestReaderRealJournal(t *testing.T) {
	journalctl, err := exec.LookPath("journalctl")
	if err != nil {
		t.Skip("journalctl is not installed")
	}
	remote := "/lib/systemd/systemd-journal-remote"
	if _, err := os.Stat(remote); err != nil {
		t.Skipf("%s is missing (apt-get install systemd-journal-remote) to write a journal file", remote)
	}
	dir := t.TempDir()
	now := time.Now().Add(-time.Minute).UnixMicro()
	var export []byte
	export = append(export, exportEntry(now, "dockerd", "first line")...)
	export = append(export, exportEntry(now+1, "containerd", "someone else")...)
	export = append(export, exportEntry(now+2, "dockerd", "binary \x01\xff line")...)
	export = append(export, exportEntry(now+3, "dockerd", "third line")...)
	cmd := exec.Command(remote, "--output="+filepath.Join(dir, "remote.journal"), "-")
	cmd.Stdin = bytes.NewReader(export)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v: %s", err, out)
	}
	read := func(q Query, n int) []Entry {
		t.Helper()
		r, err := Start(context.Background(), journalctl, q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var got []Entry
		for len(got) < n {
			e, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e)
		}
		return got
	}
	q := Query{Identifier: "dockerd", Directory: dir, Since: time.Now().Add(-time.Hour)}
	got := read(q, 3)
	if got[0].Message != "first line" || got[1].Message != "binary \x01\xff line" || got[2].Message != "third line" ||
		got[0].Priority != 4 || !got[0].Time.Equal(time.UnixMicro(now)) {
		t.Fatalf("got %+v", got)
	}
	q.AfterCursor = got[1].Cursor
	if again := read(q, 1); again[0].Message != "third line" {
		t.Fatalf("after cursor: %+v", again)
	}
}

package kmsg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Record // Message compared as a string
		err  error
	}{
		{name: "kernel", line: "6,343,1416165,-;EXT4-fs (vda): mounted filesystem r/w without journal.",
			want: Record{Level: 6, Facility: 0, Seq: 343, Usec: 1416165, Flag: '-', Message: []byte("EXT4-fs (vda): mounted filesystem r/w without journal.")}},
		{name: "firmware bug at boot", line: "4,2,0,-;[Firmware Bug]: TSC doesn't count with P0 frequency!",
			want: Record{Level: 4, Seq: 2, Usec: 0, Flag: '-', Message: []byte("[Firmware Bug]: TSC doesn't count with P0 frequency!")}},
		{name: "user space facility", line: "14,900,5000000,-;systemd[1]: Started kubelet.service.",
			want: Record{Level: 6, Facility: 1, Seq: 900, Usec: 5000000, Flag: '-', Message: []byte("systemd[1]: Started kubelet.service.")}},
		{name: "caller id field", line: "3,77,123456,-,caller=T1234;Out of memory: Killed process 42 (stress)",
			want: Record{Level: 3, Seq: 77, Usec: 123456, Flag: '-', Message: []byte("Out of memory: Killed process 42 (stress)")}},
		{name: "continuation flag", line: "4,10,99,c;first part",
			want: Record{Level: 4, Seq: 10, Usec: 99, Flag: 'c', Message: []byte("first part")}},
		{name: "semicolon in message", line: "6,1,2,-;a;b;c", want: Record{Level: 6, Seq: 1, Usec: 2, Flag: '-', Message: []byte("a;b;c")}},
		{name: "trailing newline", line: "6,1,2,-;hello\n", want: Record{Level: 6, Seq: 1, Usec: 2, Flag: '-', Message: []byte("hello")}},
		{name: "empty message", line: "6,1,2,-;", want: Record{Level: 6, Seq: 1, Usec: 2, Flag: '-', Message: []byte{}}},
		{name: "escaped bytes kept", line: `6,1,2,-;bad\x0abyte`, want: Record{Level: 6, Seq: 1, Usec: 2, Flag: '-', Message: []byte(`bad\x0abyte`)}},
		{name: "largest sequence", line: "0,18446744073709551615,1,-;x", want: Record{Seq: 1<<64 - 1, Usec: 1, Flag: '-', Message: []byte("x")}},

		{name: "no semicolon", line: "6,1,2,- hello", err: errNoSemicolon},
		{name: "empty", line: "", err: errNoSemicolon},
		{name: "dictionary line", line: " SUBSYSTEM=pci", err: errNoSemicolon},
		{name: "empty priority", line: ",1,2,-;x", err: errPriority},
		{name: "letter in priority", line: "6a,1,2,-;x", err: errPriority},
		{name: "priority too big", line: "4294967296,1,2,-;x", err: errPriority},
		{name: "negative sequence", line: "6,-1,2,-;x", err: errSeq},
		{name: "sequence overflow", line: "6,18446744073709551616,2,-;x", err: errSeq},
		{name: "missing timestamp", line: "6,1;x", err: errSeq},
		{name: "empty timestamp", line: "6,1,,-;x", err: errUsec},
		{name: "missing flags", line: "6,1,2;x", err: errUsec},
		{name: "empty flags", line: "6,1,2,;x", err: errFlags},
		{name: "two flag characters", line: "6,1,2,-c;x", err: errFlags},
		{name: "empty more field", line: "6,1,2,,x;y", err: errFlags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			err := Parse([]byte(tt.line), &r)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Level != tt.want.Level || r.Facility != tt.want.Facility || r.Seq != tt.want.Seq || r.Usec != tt.want.Usec ||
				r.Flag != tt.want.Flag || string(r.Message) != string(tt.want.Message) {
				t.Fatalf("got %+v (message %q), want %+v", r, r.Message, tt.want)
			}
		})
	}
}

// kernelLines are records as this machine's kernel writes them (testdata/kmsg-sample).
func kernelLines(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/kmsg-sample")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Bytes(); len(l) > 0 && l[0] != ' ' {
			lines = append(lines, append([]byte(nil), l...))
		}
	}
	if len(lines) == 0 {
		tb.Fatal("no records in testdata/kmsg-sample")
	}
	return lines
}

func TestParseSample(t *testing.T) {
	var r Record
	for i, l := range kernelLines(t) {
		if err := Parse(l, &r); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
	}
}

// BenchmarkParseKmsg measures the parser alone over real kernel records; the issue asks for
// at least 2,000,000 lines/s on one core.
func BenchmarkParseKmsg(b *testing.B) {
	lines := kernelLines(b)
	var r Record
	var n int
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if err := Parse(lines[i%len(lines)], &r); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "lines/s")
}

// FuzzParseKmsg checks that no input panics, that every error is ErrMalformed, and that a
// parsed record keeps its message as the text after the prefix and survives a round trip.
func FuzzParseKmsg(f *testing.F) {
	for _, l := range kernelLines(f) {
		f.Add(l)
	}
	for _, s := range []string{"6,1,2,-;a;b", "14,900,5,-,caller=T1;x\n", "6,1,2;x", ";", "", "0,0,0,-;", "6,1,2,c;"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Record
		err := Parse(line, &r)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if r.Level > 7 {
			t.Fatalf("level %d", r.Level)
		}
		trimmed := bytes.TrimSuffix(line, []byte("\n"))
		if !bytes.HasSuffix(trimmed, r.Message) {
			t.Fatalf("message %q is not the end of %q", r.Message, trimmed)
		}
		prefix := trimmed[:len(trimmed)-len(r.Message)]
		if len(prefix) == 0 || prefix[len(prefix)-1] != ';' || bytes.Count(prefix, []byte(";")) != 1 {
			t.Fatalf("prefix %q of %q", prefix, line)
		}
		if len(r.Message) > 0 && &r.Message[0] != &trimmed[len(prefix)] {
			t.Fatal("message is not a subslice of the line")
		}
		// The canonical form ends in a newline, which Parse drops, so a message ending in one
		// survives.
		canon := fmt.Sprintf("%d,%d,%d,%s;%s\n", uint64(r.Facility)<<3|uint64(r.Level), r.Seq, r.Usec, []byte{r.Flag}, r.Message)
		var again Record
		if err := Parse([]byte(canon), &again); err != nil {
			t.Fatalf("round trip of %q: %v", canon, err)
		}
		if again.Level != r.Level || again.Facility != r.Facility || again.Seq != r.Seq || again.Usec != r.Usec ||
			again.Flag != r.Flag || !bytes.Equal(again.Message, r.Message) {
			t.Fatalf("round trip %+v != %+v", again, r)
		}
	})
}

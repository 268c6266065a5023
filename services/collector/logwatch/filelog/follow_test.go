package filelog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type got struct {
	line string
	pos  Position
}

// next reads n lines, failing after a deadline instead of hanging.
func next(t *testing.T, fl *Follower, n int) []got {
	t.Helper()
	ch := make(chan []got, 1)
	errc := make(chan error, 1)
	go func() {
		var out []got
		for len(out) < n {
			l, p, err := fl.Next()
			if err != nil {
				errc <- err
				return
			}
			out = append(out, got{string(l), p})
		}
		ch <- out
	}()
	select {
	case out := <-ch:
		return out
	case err := <-errc:
		t.Fatalf("Next: %v", err)
	case <-time.After(10 * time.Second):
		fl.Close()
		t.Fatalf("no %d lines within 10s", n)
	}
	return nil
}

func lines(g []got) string {
	var s []string
	for _, x := range g {
		s = append(s, x.line)
	}
	return strings.Join(s, "|")
}

func write(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func follow(t *testing.T, path string, from *Position) *Follower {
	t.Helper()
	fl, err := Follow(path, from)
	if err != nil {
		t.Fatal(err)
	}
	fl.Poll = 5 * time.Millisecond
	t.Cleanup(func() { fl.Close() })
	return fl
}

func TestFollowAppendsAndPartialLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	write(t, path, "one\ntwo\n")
	fl := follow(t, path, nil)
	g := next(t, fl, 2)
	if lines(g) != "one|two" || g[0].pos.Offset != 4 || g[1].pos.Offset != 8 {
		t.Fatalf("got %+v", g)
	}
	// A line written in two pieces, the reader likely waiting in between, comes out whole.
	write(t, path, "thr")
	done := make(chan got, 1)
	go func() {
		l, p, _ := fl.Next()
		done <- got{string(l), p}
	}()
	write(t, path, "ee\nfour\n")
	select {
	case g := <-done:
		if g.line != "three" || g.pos.Offset != 14 {
			t.Fatalf("got %+v", g)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10s")
	}
	if g := next(t, fl, 1); lines(g) != "four" {
		t.Fatalf("got %+v", g)
	}
}

// Rotation as logrotate does it: rename, a few late lines into the old file, a new file.
func TestFollowRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kern.log")
	write(t, path, "a1\na2\n")
	fl := follow(t, path, nil)
	if g := next(t, fl, 2); lines(g) != "a1|a2" {
		t.Fatalf("got %+v", g)
	}
	old, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	old.WriteString("a3\nunfinished")
	write(t, path, "b1\nb2\n")
	g := next(t, fl, 4)
	if lines(g) != "a3|unfinished|b1|b2" {
		t.Fatalf("got %q", lines(g))
	}
	if g[0].pos.SameFile(g[2].pos) || g[2].pos.Offset != 3 {
		t.Fatalf("positions %+v", g)
	}
}

func TestFollowTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docker.log")
	write(t, path, "old line one\nold line two\n")
	fl := follow(t, path, nil)
	if g := next(t, fl, 2); lines(g) != "old line one|old line two" {
		t.Fatalf("got %+v", g)
	}
	// copytruncate: the same file, emptied, then written again (shorter than before).
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	write(t, path, "new\n")
	g := next(t, fl, 1)
	if lines(g) != "new" || g[0].pos.Offset != 4 {
		t.Fatalf("got %+v", g)
	}
}

func TestFollowResume(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) // after the first reader stopped at "a2"
		want  string
	}{
		{name: "same file grew", setup: func(t *testing.T, path string) { write(t, path, "a3\n") }, want: "a3"},
		{name: "rotated while stopped", setup: func(t *testing.T, path string) {
			write(t, path, "a3\n")
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			write(t, path, "b1\n")
		}, want: "a3|b1"},
		{name: "rotated away and gone", setup: func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			write(t, path, "b1\n")
		}, want: "b1"},
		{name: "truncated while stopped", setup: func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			write(t, path, "c\n")
		}, want: "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messages")
			write(t, path, "a1\na2\n")
			first := follow(t, path, nil)
			g := next(t, first, 2)
			first.Close()
			pos := g[1].pos
			tt.setup(t, path)
			fl := follow(t, path, &pos)
			want := strings.Split(tt.want, "|")
			if got := lines(next(t, fl, len(want))); got != tt.want {
				t.Fatalf("resumed with %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFollowMissingFile(t *testing.T) {
	if _, err := Follow(filepath.Join(t.TempDir(), "nope.log"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestFollowCloseStopsWaiting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	write(t, path, "")
	fl := follow(t, path, nil)
	done := make(chan error, 1)
	go func() {
		_, _, err := fl.Next()
		done <- err
	}()
	fl.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop Next")
	}
}

func TestFollowLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	write(t, path, strings.Repeat("x", MaxLine+10)+"\nshort\n")
	fl := follow(t, path, nil)
	g := next(t, fl, 3)
	if len(g[0].line) < MaxLine || len(g[0].line)+len(g[1].line) != MaxLine+10 || g[2].line != "short" {
		t.Fatalf("pieces %d+%d, then %q", len(g[0].line), len(g[1].line), g[2].line)
	}
}

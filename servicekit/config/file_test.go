package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestFileError(t *testing.T) {
	for _, tc := range []struct {
		err  *FileError
		want string
	}{
		{&FileError{Flag: "rules", Path: "a.json", Field: "rules[2].pattern", Value: "task (", Reason: "missing closing )"},
			`load a.json: rules[2].pattern "task (": missing closing )`},
		{&FileError{Flag: "rules", Path: "b.json", Reason: "read", Err: fs.ErrNotExist}, "load b.json: read: file does not exist"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		var ce *Error
		if !errors.As(error(tc.err), &ce) || ce.Flag != "rules" || ce.Value != tc.err.Path || !IsConfigError(tc.err) {
			t.Errorf("As(*Error) = %+v", ce)
		}
	}
	if err := (&FileError{Path: "b", Err: fs.ErrNotExist}); !errors.Is(err, fs.ErrNotExist) {
		t.Error("FileError does not unwrap to its cause")
	}
}

func TestSplitPositional(t *testing.T) {
	for _, tc := range []struct {
		args, flags, pos []string
	}{
		{[]string{"node-1", "--force", "--nats-url", "nats://x:4222"}, []string{"--force", "--nats-url", "nats://x:4222"}, []string{"node-1"}},
		{[]string{"--timeout=5s", "n1", "XfsShutdown"}, []string{"--timeout=5s"}, []string{"n1", "XfsShutdown"}},
		{[]string{"--force", "--", "-odd-node"}, []string{"--force"}, []string{"-odd-node"}},
	} {
		flags, pos := SplitPositional(tc.args, "force")
		if strings.Join(flags, " ") != strings.Join(tc.flags, " ") || strings.Join(pos, " ") != strings.Join(tc.pos, " ") {
			t.Errorf("SplitPositional(%q) = %q, %q; want %q, %q", tc.args, flags, pos, tc.flags, tc.pos)
		}
	}
}

package config

import (
	"errors"
	"io/fs"
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

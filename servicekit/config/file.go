package config

import "fmt"

// FileError is a configuration file that cannot be loaded: it names the file, and the field and
// value at fault when there is one (`rules[2].pattern "task (": missing closing )`). It is a
// configuration error: errors.As(err, new(*Error)) holds for it, naming Flag, the flag that named
// the file, so mains exit 2.
type FileError struct {
	Flag   string // without dashes, e.g. "health-rules"
	Path   string
	Field  string // empty for read and syntax errors
	Value  string
	Reason string
	Err    error // the underlying error (read, parse), if any
}

func (e *FileError) Error() string { return "load " + e.Path + ": " + e.Detail() }

// Detail is the error without the file: field, value, reason and cause.
func (e *FileError) Detail() string {
	s := e.Reason
	if e.Field != "" {
		s = fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FileError) Unwrap() error { return e.Err }

// As makes a FileError an *Error for errors.As.
func (e *FileError) As(target any) bool {
	ce, ok := target.(**Error)
	if !ok {
		return false
	}
	*ce = &Error{Flag: e.Flag, Value: e.Path, Source: "flag", Reason: e.Detail()}
	return true
}

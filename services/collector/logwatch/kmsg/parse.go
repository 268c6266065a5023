// Package kmsg reads the kernel log from /dev/kmsg: it parses the records the kernel hands out
// (Documentation/ABI/testing/dev-kmsg: "priority,sequence,microseconds,flags[,more];message"
// followed by " KEY=value" dictionary lines), and reads them from the device — one record per
// read, an EPIPE when the ring buffer overwrote records not yet read — or from a plain file or
// pipe of such records, which is how tests feed it. The parser does not allocate, so the
// collector can keep up with a kernel that logs in bursts.
package kmsg

import (
	"errors"
	"fmt"
)

// Record is one parsed kernel log record.
type Record struct {
	// Level is the syslog severity, 0 (emerg) to 7 (debug).
	Level uint8
	// Facility is the syslog facility: 0 for the kernel, others for lines written to
	// /dev/kmsg from user space.
	Facility uint32
	// Seq is the kernel's sequence number of the record; it restarts at 0 on boot.
	Seq uint64
	// Usec is the time of the record in microseconds since boot.
	Usec uint64
	// Flag is the record's flag: '-' for a whole record, 'c' for a fragment that a later record
	// continues (older kernels), '+' for such a continuation.
	Flag byte
	// Message is the text, with the kernel's \xNN escapes as they are. It is a subslice of the
	// parsed line, valid as long as that line is.
	Message []byte
}

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed kmsg record")

// The parse errors, made once so that a malformed line does not allocate either.
var (
	errNoSemicolon = fmt.Errorf("%w: no ';' ending the prefix", ErrMalformed)
	errPriority    = fmt.Errorf("%w: bad priority", ErrMalformed)
	errSeq         = fmt.Errorf("%w: bad sequence number", ErrMalformed)
	errUsec        = fmt.Errorf("%w: bad timestamp", ErrMalformed)
	errFlags       = fmt.Errorf("%w: bad flags", ErrMalformed)
)

// Parse parses one record line (without its dictionary lines; a trailing newline is ignored)
// into r. On error r is left partly filled and must not be used.
func Parse(line []byte, r *Record) error {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	// The prefix is short and never holds ';', while the message may: find the first one.
	semi := -1
	for i, c := range line {
		if c == ';' {
			semi = i
			break
		}
	}
	if semi < 0 {
		return errNoSemicolon
	}
	prefix := line[:semi]
	prio, rest, ok := number(prefix, ',')
	if !ok || prio > 0xffffffff {
		return errPriority
	}
	if r.Seq, rest, ok = number(rest, ','); !ok {
		return errSeq
	}
	if r.Usec, rest, ok = number(rest, ','); !ok {
		return errUsec
	}
	// Flags: one character, then either the end of the prefix or ",more fields" that newer
	// kernels add (caller=T1234) and readers must ignore.
	if len(rest) == 0 || rest[0] == ',' || (len(rest) > 1 && rest[1] != ',') {
		return errFlags
	}
	r.Flag = rest[0]
	r.Level = uint8(prio & 7)
	r.Facility = uint32(prio >> 3)
	r.Message = line[semi+1:]
	return nil
}

// number parses the decimal digits at the start of b, up to sep or the end of b, and returns
// what follows sep. It refuses empty numbers, non-digits and overflow.
func number(b []byte, sep byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && b[i] != sep; i++ {
		c := b[i] - '0'
		if c > 9 || v > (1<<64-1-uint64(c))/10 {
			return 0, nil, false
		}
		v = v*10 + uint64(c)
	}
	if i == 0 || i == len(b) {
		return 0, nil, false
	}
	return v, b[i+1:], true
}

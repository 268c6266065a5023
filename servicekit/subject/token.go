// Package subject builds nodewarden's NATS subjects and KV keys. Node names (and log sources)
// become exactly one token in [-_=a-zA-Z0-9], valid both as a subject token and as a KV key, so
// "ip-10-0-0-1.ec2.internal" stays one token instead of four; the encoding is reversible.
package subject

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidName is returned for names that cannot name a node: empty, or holding a NATS
// wildcard or whitespace.
var ErrInvalidName = errors.New("invalid name")

const hexDigits = "0123456789ABCDEF"

// Encode turns a name into one token. Letters, digits and '-' stay as they are, '.' becomes '_'
// (node names are full of dots, so they stay readable), and every other byte becomes "=XX"
// (upper-case hex). Empty names and names holding '*', '>' or whitespace are rejected: they
// cannot be a Kubernetes node name, and letting them through would hide a bug upstream.
func Encode(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if i := strings.IndexFunc(name, forbidden); i >= 0 {
		return "", fmt.Errorf("%w %q: %q is not allowed", ErrInvalidName, name, name[i])
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case plain(c):
			b.WriteByte(c)
		case c == '.':
			b.WriteByte('_')
		default:
			b.WriteByte('=')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0x0f])
		}
	}
	return b.String(), nil
}

// MustEncode is Encode for names known to be valid (constants); it panics otherwise.
func MustEncode(name string) string {
	t, err := Encode(name)
	if err != nil {
		panic(err)
	}
	return t
}

// Decode reverses Encode. It accepts only the canonical form Encode produces, so that
// Encode(Decode(t)) == t for every token it accepts.
func Decode(token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: empty token", ErrInvalidName)
	}
	var b strings.Builder
	b.Grow(len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case plain(c):
			b.WriteByte(c)
		case c == '_':
			b.WriteByte('.')
		case c == '=':
			if i+2 >= len(token) {
				return "", fmt.Errorf("%w: token %q: truncated escape", ErrInvalidName, token)
			}
			hi, lo := unhex(token[i+1]), unhex(token[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%w: token %q: bad escape %q", ErrInvalidName, token, token[i:i+3])
			}
			v := byte(hi<<4 | lo)
			if plain(v) || v == '.' || forbidden(rune(v)) {
				return "", fmt.Errorf("%w: token %q: non-canonical escape %q", ErrInvalidName, token, token[i:i+3])
			}
			b.WriteByte(v)
			i += 2
		default:
			return "", fmt.Errorf("%w: token %q: byte %q", ErrInvalidName, token, c)
		}
	}
	return b.String(), nil
}

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// forbidden reports the characters a name may not hold. Only ASCII whitespace is checked byte
// by byte; multi-byte runes are escaped like any other byte.
func forbidden(r rune) bool {
	switch r {
	case '*', '>', ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

//go:build unix

package filelog

import (
	"io/fs"
	"syscall"
)

// identity is the device and inode of a file: what stays when the file is renamed, and
// changes when a new file takes its name.
func identity(info fs.FileInfo) Position {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return Position{Dev: uint64(st.Dev), Inode: uint64(st.Ino)}
	}
	return Position{}
}

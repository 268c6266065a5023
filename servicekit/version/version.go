// Package version says which nodewarden build is running; the Makefile sets Version with
// -ldflags "-X github.com/nodewarden/nodewarden/servicekit/version.Version=...".
package version

import (
	"fmt"
	"runtime"
)

// Version of this build; "dev" when built without the Makefile.
var Version = "dev"

// String is the one-line version report of every binary.
func String(program string) string {
	return fmt.Sprintf("%s %s (%s, %s/%s)", program, Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

package e2e

import "os"

// fullLoadEnv set to 1 runs the scenarios at the full load (`make e2e`); otherwise
// they run reduced, a minute or less each, as `make test` runs them on a shared machine.
const fullLoadEnv = "NW_E2E_FULL"

// fullLoad reports whether the scenarios run at full load.
func fullLoad() bool { return os.Getenv(fullLoadEnv) == "1" }

// load picks the reduced or the full figure.
func load[T any](reduced, full T) T {
	if fullLoad() {
		return full
	}
	return reduced
}

package reboot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BootIDPath is where Linux exposes the id it draws afresh at each boot.
const BootIDPath = "/proc/sys/kernel/random/boot_id"

// BootIDSource tells the node's current boot id. A reboot is proven done when it differs from
// the one recorded with the request.
type BootIDSource interface {
	Current() (string, error)
}

var _ BootIDSource = BootIDFile("")

// BootIDFile reads the boot id from a file: BootIDPath, the same under a host-root mount, or a
// test's temporary file.
type BootIDFile string

// HostBootIDFile is the boot id file under hostRoot ("" or "/" for the rebooter's own /proc,
// which is the host's boot id in any container too).
func HostBootIDFile(hostRoot string) BootIDFile {
	return BootIDFile(filepath.Join("/", hostRoot, BootIDPath))
}

// Current reads the file afresh on each call.
func (f BootIDFile) Current() (string, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("read boot id %s: file is empty", string(f))
	}
	return id, nil
}

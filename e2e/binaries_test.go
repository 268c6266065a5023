package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binDir holds the binaries built once for the whole test run.
var binDir string

var binaries = map[string]string{
	"nodewarden": "./cmd/nodewarden",
	"collector":  "./services/collector/cmd/collector",
	"detector":   "./services/detector/cmd/detector",
	"rebooter":   "./services/rebooter/cmd/rebooter",
	"sink":       "./services/sink/cmd/sink",
	"alerter":    "./services/alerter/cmd/alerter",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodewarden-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, pkg := range binaries {
		args = append(args, pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".." // the workspace root, where go.work is
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build binaries: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %s not built: %v", name, err)
	}
	return p
}

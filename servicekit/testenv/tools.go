package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Binaries installed from Debian packages by `make deps`; their paths are fixed by the packages.
const (
	prometheusBin   = "/usr/bin/prometheus"
	alertmanagerBin = "/usr/bin/prometheus-alertmanager"
)

// influxdDir names the folder `make deps` builds influxd into; the version is in the name so
// that a version bump builds afresh instead of reusing a stale binary.
const influxdDir = "influxd-v1.8.10"

// ToolsDir is the folder of binaries the Makefile owns and `make deps` fills: $NW_TOOLS_DIR
// when set, else $HOME/.cache/nodewarden/tools (the Makefile's default, so both agree).
func ToolsDir() string {
	if d := os.Getenv("NW_TOOLS_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.Getenv("HOME"), ".cache", "nodewarden", "tools")
}

// influxdPath returns the influxd binary or fails the test.
func influxdPath(t testing.TB) string {
	t.Helper()
	return requireBinary(t, filepath.Join(ToolsDir(), influxdDir, "influxd"), "influxd 1.8.10")
}

// kubeBinary returns kube-apiserver or etcd (name) from the tools folder or fails the test.
func kubeBinary(t testing.TB, name string) string {
	t.Helper()
	dir, err := kubeToolsDir()
	if err != nil {
		t.Fatalf("testenv: locate %s: %v (run `make deps` from the repository root)", name, err)
	}
	return requireBinary(t, filepath.Join(dir, name), name)
}

// kubeToolsDir is <tools>/kube-<key>, where key is what hack/install-kube.sh computes
// (`cat go.mod go.sum | sha256sum | cut -c1-12` in hack/kube): binaries built from another
// wrapper module version are never picked up by mistake.
func kubeToolsDir() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, "hack", "kube", name))
		if err != nil {
			return "", fmt.Errorf("read kube wrapper module: %w", err)
		}
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:12]
	return filepath.Join(ToolsDir(), "kube-"+key), nil
}

// repoRoot walks up from the working directory (a package directory under `go test`) to the
// directory holding go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.work above the working directory")
		}
		dir = parent
	}
}

// requireBinary fails the test, never skips it, when path is not an executable file: a
// skipped integration test would pass CI while testing nothing.
func requireBinary(t testing.TB, path, what string) string {
	t.Helper()
	info, err := os.Stat(path)
	if err == nil && (info.IsDir() || info.Mode()&0o111 == 0) {
		err = fmt.Errorf("not an executable file")
	}
	if err != nil {
		t.Fatalf("testenv: %s is missing at %s (%v): run `make deps` from the repository root", what, path, err)
	}
	return path
}

package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fatalRecorder stands in for a test to see how a helper fails: Fatalf records and ends the
// goroutine, as testing.T's does; Skip would panic through the embedded nil TB.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestInfluxMissingBinaryFailsNamingMakeDeps(t *testing.T) {
	t.Setenv("NW_TOOLS_DIR", t.TempDir())
	rec := &fatalRecorder{}
	var wg sync.WaitGroup
	wg.Go(func() { influxdPath(rec) })
	wg.Wait()
	if !strings.Contains(rec.msg, "make deps") || !strings.Contains(rec.msg, "influxd") {
		t.Fatalf("missing influxd failed with %q, want a message naming influxd and `make deps`", rec.msg)
	}
}

func TestKubeToolsDirMatchesInstallScript(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The same pipeline hack/install-kube.sh runs to name the folder it builds into.
	cmd := exec.Command("sh", "-c", "cat go.mod go.sum | sha256sum | cut -c1-12")
	cmd.Dir = filepath.Join(root, "hack", "kube")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("compute key as install-kube.sh does: %v", err)
	}
	t.Setenv("NW_TOOLS_DIR", "/tools")
	got, err := kubeToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := "/tools/kube-" + strings.TrimSpace(string(out)); got != want {
		t.Errorf("kubeToolsDir() = %s, want %s", got, want)
	}
}

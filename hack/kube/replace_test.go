package kube

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// k8s.io/kubernetes replaces its staging modules with local folders, which a module that
// requires it cannot use; this wrapper must replace every one of them with the published
// module at the matching v0 version. The test fails when the list and the release drift apart
// (a version bump without regenerating the replaces).
func TestReplacesEveryStagingModule(t *testing.T) {
	ours, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require )?k8s\.io/kubernetes v1\.(\d+\.\d+)$`).FindSubmatch(ours)
	if m == nil {
		t.Fatal("go.mod does not require k8s.io/kubernetes v1.X.Y")
	}
	stagingVersion := "v0." + string(m[1])
	cmd := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@v1."+string(m[1]))
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download k8s.io/kubernetes: %v", err)
	}
	var info struct{ GoMod string }
	if err := json.Unmarshal(out, &info); err != nil || info.GoMod == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	f, err := os.Open(info.GoMod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	staging := regexp.MustCompile(`^\s*(k8s\.io/\S+) => \./staging/`)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sm := staging.FindStringSubmatch(sc.Text())
		if sm == nil {
			continue
		}
		n++
		want := sm[1] + " => " + sm[1] + " " + stagingVersion
		if !strings.Contains(string(ours), want) {
			t.Errorf("go.mod lacks %q", want)
		}
	}
	if n < 20 {
		t.Fatalf("found only %d staging modules in %s", n, info.GoMod)
	}
}

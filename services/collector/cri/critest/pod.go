package critest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PauseImage is the image ImportPause imports: one static binary that waits for a signal. It is
// also containerd's sandbox image, so sandboxes need no registry.
const PauseImage = "nodewarden.test/pause:1"

// Labels kubelet puts on every container.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

var (
	pauseOnce sync.Once
	pauseTar  string
	pauseErr  error
)

// ImportPause builds the pause image (once per test binary) and imports it into containerd's CRI
// namespace with ctr. It skips when ctr or runc is not installed.
func (cd *Containerd) ImportPause(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ctr", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (it comes with Debian's containerd package); skipping pod test", tool)
		}
	}
	pauseOnce.Do(buildPause)
	if pauseErr != nil {
		t.Fatalf("build pause image: %v", pauseErr)
	}
	out, err := exec.Command("ctr", "--address", cd.Socket, "--namespace", "k8s.io",
		"images", "import", "--snapshotter", "native", pauseTar).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
}

// buildPause compiles testdata/pause statically and wraps it in a docker-archive tar. The tar is
// kept under the temp directory by a name derived from the source and Go version, so test
// binaries reuse it rather than leave one per run; it is written to a temporary name and renamed,
// so test binaries running at once do not see a half-written file.
func buildPause() {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "pause")
	code, err := os.ReadFile(filepath.Join(src, "main.go"))
	if err != nil {
		pauseErr = err
		return
	}
	sum := sha256.Sum256(append(code, runtime.Version()...))
	pauseTar = filepath.Join(os.TempDir(), "nodewarden-critest-pause-"+hex.EncodeToString(sum[:8])+".tar")
	if _, err := os.Stat(pauseTar); err == nil {
		return
	}
	dir, err := os.MkdirTemp("", "nwpause")
	if err != nil {
		pauseErr = err
		return
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "pause")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		pauseErr = &buildError{err: err, out: string(out)}
		return
	}
	tmp := filepath.Join(dir, "pause.tar")
	if pauseErr = writeImageTar(tmp, bin, PauseImage); pauseErr != nil {
		return
	}
	pauseErr = os.Rename(tmp, pauseTar)
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// writeImageTar writes a docker-archive (what `docker save` writes and `ctr images import`
// reads) with one layer holding bin as /pause.
func writeImageTar(path, bin, ref string) error {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := lw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(exe)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := lw.Write(exe); err != nil {
		return err
	}
	if err := lw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string{"/pause"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(sum[:])}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal([]map[string]any{{
		"Config": "config.json", "RepoTags": []string{ref}, "Layers": []string{"layer.tar"},
	}})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, e := range []struct {
		name string
		data []byte
	}{{"layer.tar", layer.Bytes()}, {"config.json", config}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// ImageID is the id ("sha256:...") of an imported image.
func (cd *Containerd) ImageID(t testing.TB, ref string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cd.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil || resp.GetImage() == nil {
		t.Fatalf("image status %s: %v (image %v)", ref, err, resp.GetImage())
	}
	return resp.GetImage().GetId()
}

// Container is one container of a Pod.
type Container struct {
	Name string
	// Start starts it; otherwise it is only created (the runtime lists it all the same).
	Start bool
	// Image is what goes into the CRI ImageSpec.Image (default PauseImage). Kubelet puts the
	// resolved image id there; pass ImageID(PauseImage) to do the same.
	Image string
	// UserSpecifiedImage is the pod spec's image, as kubelet 1.29+ sends it.
	UserSpecifiedImage string
}

// Pod is what RunPod made.
type Pod struct {
	SandboxID    string
	ContainerIDs []string // in the order of the containers asked for
}

// RunPod starts a host-network sandbox (no CNI needed) with kubelet's labels and creates its
// containers. The pause image must have been imported. Cleanup stops and removes the sandbox.
func (cd *Containerd) RunPod(t testing.TB, name, namespace, uid string, containers ...Container) Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: uid},
		LogDirectory: filepath.Join(cd.Dir, "pods", uid),
		Labels:       map[string]string{LabelPodName: name, LabelPodNamespace: namespace, LabelPodUID: uid},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cd.cgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			},
		},
	}
	if err := os.MkdirAll(sbCfg.LogDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	sb, err := cd.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		t.Fatalf("run pod sandbox %s/%s: %v", namespace, name, err)
	}
	p := Pod{SandboxID: sb.GetPodSandboxId()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = cd.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.SandboxID})
		_, _ = cd.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.SandboxID})
	})
	for _, c := range containers {
		image := c.Image
		if image == "" {
			image = PauseImage
		}
		ct, err := cd.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
			PodSandboxId: p.SandboxID,
			Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: c.Name},
				Image:    &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: c.UserSpecifiedImage},
				LogPath:  c.Name + ".log",
				Labels: map[string]string{
					LabelPodName: name, LabelPodNamespace: namespace, LabelPodUID: uid, LabelContainerName: c.Name,
				},
			},
			SandboxConfig: sbCfg,
		})
		if err != nil {
			t.Fatalf("create container %s/%s/%s: %v", namespace, name, c.Name, err)
		}
		p.ContainerIDs = append(p.ContainerIDs, ct.GetContainerId())
		if c.Start {
			if _, err := cd.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ct.GetContainerId()}); err != nil {
				t.Fatalf("start container %s/%s/%s: %v", namespace, name, c.Name, err)
			}
		}
	}
	return p
}

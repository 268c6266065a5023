// Package critest starts a real containerd for tests of code that speaks CRI: Debian's containerd
// 1.6 (`apt-get install -y --no-install-recommends containerd`, which brings runc and ctr) with
// its root, state, runc root and gRPC socket in a temporary directory and the CRI plugin on, and
// makes pods in it the way kubelet does, from a one-binary image imported with ctr (there is no
// registry here). Tests skip with the reason when containerd is not installed or they are not
// root. It is a test helper: it calls t.Fatal and t.Skip, and cleans up everything it made.
package critest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StartTimeout bounds how long containerd may take to answer CRI Version (about 0.1 s here).
const StartTimeout = 20 * time.Second

// Containerd is a running containerd.
type Containerd struct {
	// Socket is the gRPC socket path, for cri.Dial.
	Socket string
	// Dir holds root, state, config and log; removed at cleanup.
	Dir string
	// Runtime and Images talk CRI to it directly, to make pods as kubelet does.
	Runtime runtimeapi.RuntimeServiceClient
	Images  runtimeapi.ImageServiceClient

	cgroupParent string
	conn         *grpc.ClientConn
}

// StartContainerd starts containerd and returns once its CRI plugin answers Version. It skips the
// test when containerd is not installed or the test does not run as root.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd is not installed (make deps: apt-get install -y --no-install-recommends containerd); skipping real-runtime test")
	}
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root; skipping real-runtime test")
	}
	// A short directory: a unix socket path has at most 107 bytes, and t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "nwcri")
	if err != nil {
		t.Fatal(err)
	}
	cd := &Containerd{
		Socket:       filepath.Join(dir, "containerd.sock"),
		Dir:          dir,
		cgroupParent: "/" + filepath.Base(dir),
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config(dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "containerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// A short reconnect backoff: the first attempts come before containerd has made its socket.
	conn, err := grpc.NewClient("unix://"+cd.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.2, MaxDelay: 200 * time.Millisecond}}))
	if err != nil {
		t.Fatal(err)
	}
	cd.conn = conn
	cd.Runtime = runtimeapi.NewRuntimeServiceClient(conn)
	cd.Images = runtimeapi.NewImageServiceClient(conn)

	t.Cleanup(func() {
		cd.removeSandboxes()
		_ = conn.Close()
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("containerd log (last lines):\n%s", tail(string(b), 30))
			}
		}
		killShims(cd.Socket)
		unmountUnder(dir)
		removeCgroups(cd.cgroupParent)
		// containerd 1.6 keeps shim sockets in /run/containerd/s whatever the config says; remove
		// the directories only when empty, so a real containerd's are never touched.
		_ = os.Remove("/run/containerd/s")
		_ = os.Remove("/run/containerd")
		_ = os.RemoveAll(dir)
	})

	deadline := time.Now().Add(StartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cd.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return cd
		}
		select {
		case werr := <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("containerd exited at start: %v\n%s", werr, tail(string(b), 30))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("containerd CRI does not answer after %v: %v\n%s", StartTimeout, err, tail(string(b), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// config keeps everything under dir. Without a CNI configuration the CRI plugin reports
// NetworkReady false, which host-network sandboxes do not mind. restrict_oom_score_adj: the
// sandbox's oom_score_adj of -998 needs CAP_SYS_RESOURCE, which the test process may lack (this
// machine's root has not), and runc fails with "can't get final child's PID" without it.
func config(dir string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
[grpc]
  address = %q
[ttrpc]
  address = %q
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %q
  [plugins."io.containerd.grpc.v1.cri"]
    disable_tcp_service = true
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    sandbox_image = %q
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %q
      conf_dir = %q
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "native"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          Root = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"),
		filepath.Join(dir, "containerd.sock"), filepath.Join(dir, "containerd.sock.ttrpc"),
		filepath.Join(dir, "opt"), PauseImage,
		filepath.Join(dir, "cni", "bin"), filepath.Join(dir, "cni", "conf"), filepath.Join(dir, "runc"))
}

// removeSandboxes stops and removes every sandbox (and so its containers), so that the shims and
// their processes exit before containerd does.
func (cd *Containerd) removeSandboxes() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cd.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, sb := range resp.GetItems() {
		_, _ = cd.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.GetId()})
		_, _ = cd.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.GetId()})
	}
}

// killShims kills, by pid, the shims this containerd started that are still running (they
// outlive containerd by design).
func killShims(socket string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.Contains(args[0], "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == socket {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
	}
}

// unmountUnder lazily unmounts whatever is still mounted under dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = exec.Command("umount", "-l", mounts[i]).Run()
	}
}

// removeCgroups removes the (by now empty) cgroups under parent in every hierarchy.
func removeCgroups(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
	if _, err := os.Stat("/sys/fs/cgroup" + parent); err == nil {
		roots = append(roots, "/sys/fs/cgroup"+parent)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

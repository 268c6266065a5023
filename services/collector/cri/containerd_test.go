package cri

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewarden/nodewarden/services/collector/cri/critest"
)

// These tests talk to a real containerd (critest); they skip when it is not installed.

func TestContainerdVersionStatus(t *testing.T) {
	cd := critest.StartContainerd(t)
	c, err := Dial(context.Background(), "unix://"+cd.Socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "containerd" || v.RuntimeAPIVersion != "v1" || v.RuntimeVersion == "" {
		t.Errorf("Version = %+v, want containerd, API v1 and a version", v)
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// No CNI configuration here: the runtime is ready, its network is not.
	if !st.RuntimeReady || st.NetworkReady {
		t.Errorf("Status = %+v, want runtime ready and network not ready", st)
	}
	if nr := st.NotReady(); !strings.HasPrefix(nr, "NetworkReady: NetworkPluginNotReady") {
		t.Errorf("NotReady = %q, want the NetworkReady condition and its reason", nr)
	}
}

func TestContainerdContainers(t *testing.T) {
	cd := critest.StartContainerd(t)
	cd.ImportPause(t)
	id := cd.ImageID(t, critest.PauseImage)
	web := cd.RunPod(t, "web-0", "shop", "9d2c6a1e-0000-4000-8000-000000000001",
		critest.Container{Name: "app", Start: true},
		critest.Container{Name: "sidecar"}) // created, never started: still listed
	// As kubelet sends them: the resolved id in Image, with and without the pod spec's image.
	db := cd.RunPod(t, "db-0", "data", "9d2c6a1e-0000-4000-8000-000000000002",
		critest.Container{Name: "db", Start: true, Image: id})
	job := cd.RunPod(t, "job-x", "batch", "9d2c6a1e-0000-4000-8000-000000000003",
		critest.Container{Name: "run", Image: id, UserSpecifiedImage: "registry.example/job:v2"})

	c, err := Dial(context.Background(), cd.Socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Containers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Meta{
		web.ContainerIDs[0]: {Name: "app", PodName: "web-0", Namespace: "shop", PodUID: "9d2c6a1e-0000-4000-8000-000000000001", Image: critest.PauseImage},
		web.ContainerIDs[1]: {Name: "sidecar", PodName: "web-0", Namespace: "shop", PodUID: "9d2c6a1e-0000-4000-8000-000000000001", Image: critest.PauseImage},
		db.ContainerIDs[0]:  {Name: "db", PodName: "db-0", Namespace: "data", PodUID: "9d2c6a1e-0000-4000-8000-000000000002", Image: critest.PauseImage},
		// containerd 1.6 predates UserSpecifiedImage and drops it; the id maps to the repo tag.
		job.ContainerIDs[0]: {Name: "run", PodName: "job-x", Namespace: "batch", PodUID: "9d2c6a1e-0000-4000-8000-000000000003", Image: critest.PauseImage},
	}
	if !maps.Equal(got, want) {
		t.Errorf("Containers =\n%v\nwant\n%v", got, want)
	}
	for k := range got {
		if len(k) != 64 {
			t.Errorf("container id %q is not a full 64-hex id", k)
		}
	}
}

// The map is listed at most once per TTL; Invalidate brings the next list forward, but no
// sooner than the minimum refresh interval.
func TestContainerdContainersCache(t *testing.T) {
	cd := critest.StartContainerd(t)
	cd.ImportPause(t)
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	c, err := Dial(context.Background(), cd.Socket, 5*time.Second,
		withClock(clock), WithCacheTTL(30*time.Second), WithMinRefresh(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	count := func(step string, want int) {
		t.Helper()
		m, err := c.Containers(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if len(m) != want {
			t.Fatalf("%s: %d containers, want %d", step, len(m), want)
		}
	}

	cd.RunPod(t, "a", "ns", "uid-a", critest.Container{Name: "a"})
	count("first list", 1)
	cd.RunPod(t, "b", "ns", "uid-b", critest.Container{Name: "b"})
	advance(29 * time.Second)
	count("within the TTL", 1)
	advance(time.Second)
	count("at the TTL", 2)

	cd.RunPod(t, "c", "ns", "uid-c", critest.Container{Name: "c"})
	advance(time.Second)
	c.Invalidate()
	count("invalidated within the minimum refresh", 2)
	advance(4 * time.Second)
	count("invalidated after the minimum refresh", 3)
}

// Many callers at once share one refresh and see the same map (run with -race).
func TestContainerdContainersConcurrent(t *testing.T) {
	cd := critest.StartContainerd(t)
	cd.ImportPause(t)
	cd.RunPod(t, "a", "ns", "uid-a", critest.Container{Name: "a"})
	c, err := Dial(context.Background(), cd.Socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	results := make([]map[string]Meta, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Containers(context.Background())
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || len(results[i]) != 1 || !maps.Equal(results[i], results[0]) {
			t.Errorf("caller %d: %v, %v; want the one container all callers see", i, results[i], errs[i])
		}
	}
}

// A runtime that appears after Dial (the collector started first) is reached without a new
// client, within gRPC's reconnect backoff.
func TestContainerdAppearsAfterDial(t *testing.T) {
	cd := critest.StartContainerd(t)
	link := filepath.Join(t.TempDir(), "cri.sock")
	c, err := Dial(context.Background(), link, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Version(context.Background()); err == nil {
		t.Fatal("Version succeeded before the socket existed")
	}
	if err := os.Symlink(cd.Socket, link); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Version(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Version still failing 10s after the runtime appeared: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

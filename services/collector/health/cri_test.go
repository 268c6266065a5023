package health

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nodewarden/nodewarden/services/collector/cri"
	"github.com/nodewarden/nodewarden/services/collector/cri/critest"
)

// A real containerd without CNI: the runtime is ready, its network is not, and that is healthy.
func TestCRIContainerd(t *testing.T) {
	cd := critest.StartContainerd(t)
	client, err := cri.Dial(context.Background(), cd.Socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r := CRI(client, "containerd").Check(context.Background())
	if !r.Healthy || r.Component != "containerd" {
		t.Fatalf("Check = %+v, want healthy containerd", r)
	}
	if !strings.HasPrefix(r.Message, "containerd 1.") || !strings.Contains(r.Message, "(CRI v1); NetworkReady: NetworkPluginNotReady") {
		t.Errorf("message %q, want the runtime's version and the network condition", r.Message)
	}
	if r.Check != "CRI Version, Status on unix://"+cd.Socket || r.Latency <= 0 {
		t.Errorf("check %q, latency %v", r.Check, r.Latency)
	}
}

func TestCRIMissingSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	client, err := cri.Dial(context.Background(), "unix://"+sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r := CRI(client, "").Check(context.Background())
	if r.Healthy || r.Component != "cri" || !strings.Contains(r.Message, "cri version unix://"+sock) {
		t.Errorf("Check = %+v, want unhealthy cri naming the socket", r)
	}
	if r.Check != "CRI Version, Status on unix://"+sock {
		t.Errorf("check %q", r.Check)
	}
}

// fakeRuntime stands in for the states a real runtime does not enter on demand.
type fakeRuntime struct {
	versionErr, statusErr error
	status                cri.Status
}

func (f *fakeRuntime) Version(context.Context) (cri.VersionInfo, error) {
	return cri.VersionInfo{RuntimeName: "cri-o", RuntimeVersion: "1.31.0", RuntimeAPIVersion: "v1"}, f.versionErr
}
func (f *fakeRuntime) Status(context.Context) (cri.Status, error) { return f.status, f.statusErr }
func (f *fakeRuntime) Socket() string                             { return "/var/run/crio/crio.sock" }

func TestCRIStates(t *testing.T) {
	ready := cri.Condition{Type: runtimeapi.RuntimeReady, Status: true}
	netReady := cri.Condition{Type: runtimeapi.NetworkReady, Status: true}
	tests := []struct {
		name        string
		rt          *fakeRuntime
		healthy     bool
		wantMessage string
	}{
		{
			name:        "all ready",
			rt:          &fakeRuntime{status: cri.Status{RuntimeReady: true, NetworkReady: true, Conditions: []cri.Condition{ready, netReady}}},
			healthy:     true,
			wantMessage: "cri-o 1.31.0 (CRI v1)",
		},
		{
			name: "runtime not ready",
			rt: &fakeRuntime{status: cri.Status{NetworkReady: true, Conditions: []cri.Condition{
				{Type: runtimeapi.RuntimeReady, Reason: "RuntimeNotReady", Message: "storage is full"}, netReady,
			}}},
			wantMessage: "cri-o 1.31.0 (CRI v1) not ready: RuntimeReady: RuntimeNotReady: storage is full",
		},
		{
			name:        "runtime condition missing",
			rt:          &fakeRuntime{status: cri.Status{NetworkReady: true, Conditions: []cri.Condition{netReady}}},
			wantMessage: "not ready: RuntimeReady: not reported",
		},
		{name: "version fails", rt: &fakeRuntime{versionErr: errors.New("cri version: deadline exceeded")}, wantMessage: "cri version: deadline exceeded"},
		{name: "status fails", rt: &fakeRuntime{statusErr: errors.New("cri status: unavailable")}, wantMessage: "cri status: unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCRI(tt.rt, "cri-o").Check(context.Background())
			if r.Healthy != tt.healthy || r.Message != tt.wantMessage && !strings.Contains(r.Message, tt.wantMessage) {
				t.Errorf("Check = healthy %v, message %q; want %v, %q", r.Healthy, r.Message, tt.healthy, tt.wantMessage)
			}
			if r.Check != "CRI Version, Status on unix:///var/run/crio/crio.sock" {
				t.Errorf("check %q", r.Check)
			}
		})
	}
}

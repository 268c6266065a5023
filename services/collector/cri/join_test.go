package cri

import (
	"maps"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	idA   = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	idB   = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	imgID = "sha256:6d1ef012b5674ad8a127ecfa9b5e6f7f18b12c5b2a4d3e6f7a8b9c0d1e2f3a4b"
)

func sandbox(id, name, ns, uid string) *runtimeapi.PodSandbox {
	return &runtimeapi.PodSandbox{Id: id, Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid}}
}

func TestJoin(t *testing.T) {
	kubeletLabels := map[string]string{
		labelPodName: "lbl-pod", labelPodNamespace: "lbl-ns", labelPodUID: "lbl-uid", labelContainerName: "lbl-ctr",
	}
	tags := repoTags([]*runtimeapi.Image{
		{Id: imgID, RepoTags: []string{"docker.io/library/nginx:1.27", "nginx:latest"}, RepoDigests: []string{"docker.io/library/nginx@sha256:feed"}},
		{Id: "sha256:untagged", RepoDigests: []string{"registry.example/app@sha256:beef"}},
		{Id: "sha256:nothing"},
	})
	tests := []struct {
		name string
		pods []*runtimeapi.PodSandbox
		ctrs []*runtimeapi.Container
		want map[string]Meta
	}{
		{
			name: "sandbox metadata wins over labels",
			pods: []*runtimeapi.PodSandbox{sandbox("sb1", "web-0", "shop", "uid-1")},
			ctrs: []*runtimeapi.Container{{
				Id: idA, PodSandboxId: "sb1", Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
				Image: &runtimeapi.ImageSpec{Image: "nginx:1.27"}, Labels: kubeletLabels,
			}},
			want: map[string]Meta{idA: {Name: "app", PodName: "web-0", Namespace: "shop", PodUID: "uid-1", Image: "nginx:1.27"}},
		},
		{
			name: "sandbox not listed: kubelet labels",
			ctrs: []*runtimeapi.Container{{Id: idA, PodSandboxId: "gone", Labels: kubeletLabels}},
			want: map[string]Meta{idA: {Name: "lbl-ctr", PodName: "lbl-pod", Namespace: "lbl-ns", PodUID: "lbl-uid"}},
		},
		{
			name: "user specified image first",
			ctrs: []*runtimeapi.Container{{
				Id: idA, Image: &runtimeapi.ImageSpec{Image: imgID, UserSpecifiedImage: "nginx"}, ImageRef: imgID,
			}},
			want: map[string]Meta{idA: {Image: "nginx"}},
		},
		{
			name: "image id replaced by the first repo tag",
			ctrs: []*runtimeapi.Container{{Id: idA, Image: &runtimeapi.ImageSpec{Image: imgID}}},
			want: map[string]Meta{idA: {Image: "docker.io/library/nginx:1.27"}},
		},
		{
			name: "no image spec: image ref",
			ctrs: []*runtimeapi.Container{{Id: idA, ImageRef: imgID}},
			want: map[string]Meta{idA: {Image: "docker.io/library/nginx:1.27"}},
		},
		{
			name: "image id with a digest ref (CRI-O)",
			ctrs: []*runtimeapi.Container{{
				Id: idA, Image: &runtimeapi.ImageSpec{Image: "sha256:other"}, ImageRef: "docker.io/library/nginx@sha256:feed",
			}},
			want: map[string]Meta{idA: {Image: "docker.io/library/nginx:1.27"}},
		},
		{
			name: "untagged image: its digest",
			ctrs: []*runtimeapi.Container{{Id: idA, Image: &runtimeapi.ImageSpec{Image: "sha256:untagged"}}},
			want: map[string]Meta{idA: {Image: "registry.example/app@sha256:beef"}},
		},
		{
			name: "unknown image id kept",
			ctrs: []*runtimeapi.Container{{Id: idA, Image: &runtimeapi.ImageSpec{Image: "sha256:nothing"}}},
			want: map[string]Meta{idA: {Image: "sha256:nothing"}},
		},
		{
			name: "two containers, one pod; empty id skipped; sandbox without metadata ignored",
			pods: []*runtimeapi.PodSandbox{sandbox("sb1", "web-0", "shop", "uid-1"), {Id: "sb2"}},
			ctrs: []*runtimeapi.Container{
				{Id: idA, PodSandboxId: "sb1", Metadata: &runtimeapi.ContainerMetadata{Name: "app"}},
				{Id: idB, PodSandboxId: "sb1", Metadata: &runtimeapi.ContainerMetadata{Name: "sidecar"}},
				{Id: "", PodSandboxId: "sb1"},
				{Id: "c3", PodSandboxId: "sb2", Metadata: &runtimeapi.ContainerMetadata{Name: "x"}},
			},
			want: map[string]Meta{
				idA:  {Name: "app", PodName: "web-0", Namespace: "shop", PodUID: "uid-1"},
				idB:  {Name: "sidecar", PodName: "web-0", Namespace: "shop", PodUID: "uid-1"},
				"c3": {Name: "x"},
			},
		},
		{name: "nothing", want: map[string]Meta{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := join(tt.pods, tt.ctrs, tags)
			if !maps.Equal(got, tt.want) {
				t.Errorf("join =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestNeedImages(t *testing.T) {
	tests := []struct {
		name string
		ctrs []*runtimeapi.Container
		want bool
	}{
		{"names only", []*runtimeapi.Container{{Image: &runtimeapi.ImageSpec{Image: "nginx:1"}}}, false},
		{"id with user image", []*runtimeapi.Container{{Image: &runtimeapi.ImageSpec{Image: imgID, UserSpecifiedImage: "nginx"}}}, false},
		{"id only", []*runtimeapi.Container{{Image: &runtimeapi.ImageSpec{Image: "nginx"}}, {Image: &runtimeapi.ImageSpec{Image: imgID}}}, true},
		{"ref only", []*runtimeapi.Container{{ImageRef: imgID}}, true},
		{"none", nil, false},
	}
	for _, tt := range tests {
		if got := needImages(tt.ctrs); got != tt.want {
			t.Errorf("%s: needImages = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestStatusNotReady(t *testing.T) {
	tests := []struct {
		name string
		st   Status
		want string
	}{
		{"all ready", Status{Conditions: []Condition{{Type: "RuntimeReady", Status: true}, {Type: "NetworkReady", Status: true}}}, ""},
		{"network", Status{Conditions: []Condition{
			{Type: "RuntimeReady", Status: true},
			{Type: "NetworkReady", Reason: "NetworkPluginNotReady", Message: "cni plugin not initialized"},
		}}, "NetworkReady: NetworkPluginNotReady: cni plugin not initialized"},
		{"both, bare", Status{Conditions: []Condition{{Type: "RuntimeReady"}, {Type: "NetworkReady"}}}, "RuntimeReady; NetworkReady"},
		{"missing", Status{Conditions: []Condition{{Type: "NetworkReady", Status: true}}}, "RuntimeReady: not reported"},
		{"none", Status{}, "RuntimeReady: not reported; NetworkReady: not reported"},
	}
	for _, tt := range tests {
		if got := tt.st.NotReady(); got != tt.want {
			t.Errorf("%s: NotReady = %q, want %q", tt.name, got, tt.want)
		}
	}
}

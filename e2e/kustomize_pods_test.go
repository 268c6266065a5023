package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// workload is the pod template of a Deployment, DaemonSet, StatefulSet or Job.
type workload struct {
	kind, name  string
	annotations map[string]string
	pod         *corev1.PodSpec
}

func (w workload) containers() []corev1.Container {
	return append(append([]corev1.Container{}, w.pod.InitContainers...), w.pod.Containers...)
}

// longRunning says whether the workload's containers serve probes (a Job's do not).
func (w workload) longRunning() bool { return w.kind != "Job" }

func workloads(objs []object) []workload {
	var out []workload
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{"Deployment", x.Name, x.Spec.Template.Annotations, &x.Spec.Template.Spec})
		case *appsv1.DaemonSet:
			out = append(out, workload{"DaemonSet", x.Name, x.Spec.Template.Annotations, &x.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			out = append(out, workload{"StatefulSet", x.Name, x.Spec.Template.Annotations, &x.Spec.Template.Spec})
		case *batchv1.Job:
			out = append(out, workload{"Job", x.Name, x.Spec.Template.Annotations, &x.Spec.Template.Spec})
		}
	}
	return out
}

func workloadsByName(objs []object) map[string]workload {
	out := map[string]workload{}
	for _, w := range workloads(objs) {
		out[w.name] = w
	}
	return out
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// Every service has its kind, probes on its --http-listen port, scrape annotations, and
// requests and limits; every long-running container has probes.
func TestKustomizeManifestsProbesAndResources(t *testing.T) {
	tree := kustomizeTree(t)
	wantKind := map[string]string{"collector": "DaemonSet", "rebooter": "DaemonSet", "detector": "Deployment", "sink": "Deployment", "alerter": "Deployment", "nats": "StatefulSet", "provision": "Job"}
	for _, v := range variants {
		ws := workloadsByName(render(t, tree, v))
		if len(ws) != len(wantKind) {
			t.Errorf("%s: workloads %v, want %v", v.name, keys(ws), keys(wantKind))
		}
		for name, kind := range wantKind {
			if ws[name].kind != kind {
				t.Errorf("%s: %s is a %q, want a %s", v.name, name, ws[name].kind, kind)
			}
		}
		for _, w := range ws {
			for _, c := range w.containers() {
				where := v.name + ": " + w.name + "/" + c.Name
				for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
					if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
						t.Errorf("%s: %s request %s, limit %s: want both, request ≤ limit", where, res, req.String(), lim.String())
					}
				}
				if w.longRunning() && (c.LivenessProbe == nil || c.ReadinessProbe == nil) {
					t.Errorf("%s: liveness %v, readiness %v: want both", where, c.LivenessProbe, c.ReadinessProbe)
				}
			}
			svc, ok := services[w.name]
			if !ok {
				continue
			}
			c := w.pod.Containers[0]
			where := v.name + ": " + w.name
			if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != svc.port {
				t.Errorf("%s: ports %+v, want http %d", where, c.Ports, svc.port)
			}
			if got := envOf(c)["NW_HTTP_LISTEN"].Value; got != ":"+itoa(svc.port) {
				t.Errorf("%s: NW_HTTP_LISTEN %q, want :%d", where, got, svc.port)
			}
			for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "http" {
					got := "none"
					if probe != nil && probe.HTTPGet != nil {
						got = "GET " + probe.HTTPGet.Path + " on port " + probe.HTTPGet.Port.String()
					}
					t.Errorf("%s: probe %s, want GET %s on port http", where, got, path)
				}
			}
			want := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": itoa(svc.port), "prometheus.io/path": "/metrics"}
			for k, val := range want {
				if w.annotations[k] != val {
					t.Errorf("%s: annotation %s=%q, want %q", where, k, w.annotations[k], val)
				}
			}
		}
	}
}

// Containers run as non-root with a read-only root file system, no privilege escalation and
// every capability dropped; the collector and the rebooter are the documented exceptions, and
// they only in what they need: the host's / read-only and the state directory (collector),
// hostNetwork (collector), hostPID (rebooter).
func TestKustomizeManifestsSecurity(t *testing.T) {
	tree := kustomizeTree(t)
	for _, v := range variants {
		for _, w := range workloads(render(t, tree, v)) {
			where := v.name + ": " + w.name
			exception := services[w.name].hostRoles
			if w.pod.HostPID != (w.name == "rebooter") || w.pod.HostNetwork != (w.name == "collector") || w.pod.HostIPC {
				t.Errorf("%s: hostPID %v, hostNetwork %v, hostIPC %v", where, w.pod.HostPID, w.pod.HostNetwork, w.pod.HostIPC)
			}
			for _, vol := range w.pod.Volumes {
				if vol.HostPath == nil {
					continue
				}
				allowed := w.name == "collector" && (vol.HostPath.Path == "/" || vol.HostPath.Path == "/var/lib/nodewarden/collector")
				if !allowed {
					t.Errorf("%s: hostPath volume %s (%s)", where, vol.Name, vol.HostPath.Path)
				}
			}
			if w.kind == "DaemonSet" && !toleratesAll(w.pod.Tolerations) {
				t.Errorf("%s: tolerations %+v do not tolerate every taint", where, w.pod.Tolerations)
			}
			podSC := w.pod.SecurityContext
			for _, c := range w.containers() {
				sc := c.SecurityContext
				if sc == nil {
					t.Errorf("%s/%s: no securityContext", where, c.Name)
					continue
				}
				if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("%s/%s: root file system not read-only", where, c.Name)
				}
				for _, m := range c.VolumeMounts {
					if m.Name == "host" && !m.ReadOnly {
						t.Errorf("%s/%s: the host's / is mounted writable", where, c.Name)
					}
				}
				if exception {
					continue
				}
				nonRoot := (podSC != nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot) || (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
				uid := int64(-1)
				if podSC != nil && podSC.RunAsUser != nil {
					uid = *podSC.RunAsUser
				}
				if sc.RunAsUser != nil {
					uid = *sc.RunAsUser
				}
				if !nonRoot || uid == 0 {
					t.Errorf("%s/%s: may run as root (runAsNonRoot %v, uid %d)", where, c.Name, nonRoot, uid)
				}
				if sc.Privileged != nil && *sc.Privileged {
					t.Errorf("%s/%s: privileged", where, c.Name)
				}
				if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("%s/%s: privilege escalation allowed", where, c.Name)
				}
				if sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
					t.Errorf("%s/%s: capabilities %+v, want drop [ALL] and nothing added", where, c.Name, sc.Capabilities)
				}
			}
		}
	}
}

func toleratesAll(ts []corev1.Toleration) bool {
	for _, t := range ts {
		if t.Key == "" && t.Operator == corev1.TolerationOpExists && t.Effect == "" {
			return true
		}
	}
	return false
}

// Images are named once, in the base's images: list; every container's image is one of them
// with its tag, and no manifest under deploy/kustomize names a tag of its own.
func TestKustomizeManifestsImages(t *testing.T) {
	tree := kustomizeTree(t)
	b, err := os.ReadFile(filepath.Join(kustomizeDir, "base", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // name in the manifests → image as rendered
	for _, img := range k.Images {
		name := img.Name
		if img.NewName != "" {
			name = img.NewName
		}
		if img.NewTag == "" {
			t.Errorf("images: %s has no newTag", img.Name)
		}
		want[img.Name] = name + ":" + img.NewTag
	}
	for _, svc := range []string{"nodewarden", "collector", "detector", "rebooter", "sink", "alerter"} {
		if _, ok := want["nodewarden/"+svc]; !ok {
			t.Errorf("images: no entry for nodewarden/%s", svc)
		}
	}
	for _, v := range variants {
		for _, w := range workloads(render(t, tree, v)) {
			for _, c := range w.containers() {
				image := "nodewarden/" + c.Name
				switch w.name {
				case "nats":
					image = "nats"
				case "provision":
					image = "nodewarden/nodewarden"
				}
				if c.Image != want[image] {
					t.Errorf("%s: %s/%s image %q, want %q (from images: %s)", v.name, w.name, c.Name, c.Image, want[image], image)
				}
			}
		}
	}
	// Overlays and components must not pin images on their own.
	_ = filepath.WalkDir(kustomizeDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "image:" && strings.Contains(f[1], ":") {
				t.Errorf("%s: %q: set tags in the base's images: list", path, strings.TrimSpace(line))
			}
		}
		if filepath.Base(path) == "kustomization.yaml" && path != filepath.Join(kustomizeDir, "base", "kustomization.yaml") && strings.Contains(string(data), "\nimages:") {
			t.Errorf("%s: images: set again outside the base", path)
		}
		return nil
	})
}

// Every image the manifests name is a target of deploy/docker/Dockerfile: distroless for all but
// the collector and the rebooter, which get Debian with nsenter and journalctl.
func TestKustomizeManifestsDockerfile(t *testing.T) {
	b, err := os.ReadFile("../deploy/docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{} // target → the image it is built FROM
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "FROM" && strings.EqualFold(f[2], "AS") {
			base[f[3]] = f[1]
		}
	}
	for _, name := range []string{"nodewarden", "collector", "detector", "rebooter", "sink", "alerter"} {
		want := "gcr.io/distroless/static-debian12:nonroot"
		if name == "collector" || name == "rebooter" {
			want = "hosttools"
		}
		if base[name] != want {
			t.Errorf("Dockerfile target %s is FROM %q, want %q", name, base[name], want)
		}
	}
	if !strings.HasPrefix(base["hosttools"], "debian:") || !strings.Contains(string(b), "--no-install-recommends util-linux systemd") {
		t.Errorf("hosttools: FROM %q; want Debian slim with only util-linux and systemd", base["hosttools"])
	}
	if !strings.Contains(string(b), "CGO_ENABLED=0 go build") {
		t.Errorf("the binaries are not built static (CGO_ENABLED=0)")
	}
}

package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizeDir is deploy/kustomize, seen from the e2e module.
const kustomizeDir = "../deploy/kustomize"

// variant is one rendering of the manifests: a kustomization under deploy/kustomize, or the
// base (or an overlay) with components added.
type variant struct {
	name       string
	dir        string   // kustomization to render, relative to deploy/kustomize
	components []string // added to dir through a kustomization of the test's own
}

// variants are every overlay, the base alone and with each component, and production with all
// components at once.
var variants = []variant{
	{name: "base", dir: "base"},
	{name: "dev", dir: "overlays/dev"},
	{name: "production", dir: "overlays/production"},
	{name: "base+servicemonitor", dir: "base", components: []string{"servicemonitor"}},
	{name: "base+tls", dir: "base", components: []string{"tls"}},
	{name: "base+grafana", dir: "base", components: []string{"grafana"}},
	{name: "production+all", dir: "overlays/production", components: []string{"servicemonitor", "tls", "grafana"}},
}

// object is one rendered manifest: its YAML, and the typed object the strict decoder made of
// it (an *unstructured.Unstructured for custom resources, which the API server validates).
type object struct {
	kind, name string
	yaml       []byte
	obj        runtime.Object
}

// customKinds are the kinds of CRDs the components use; they are not in client-go's scheme.
var customKinds = map[string]bool{"monitoring.coreos.com/v1, Kind=ServiceMonitor": true}

// strictDecoder decodes YAML into k8s.io/api types and fails on unknown or duplicate fields.
var strictDecoder = serializer.NewCodecFactory(clientgoscheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// kustomizeTree copies deploy/kustomize into a temp dir, so the test can add its own
// kustomizations beside it. auth.conf (the NATS users, written separately) gets a placeholder in
// the copy while it does not exist yet.
func kustomizeTree(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "kustomize")
	err := filepath.WalkDir(kustomizeDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(kustomizeDir, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", kustomizeDir, err)
	}
	auth := filepath.Join(dst, "base", "nats", "auth.conf")
	if _, err := os.Stat(auth); os.IsNotExist(err) {
		t.Logf("base/nats/auth.conf does not exist yet: rendering with a placeholder")
		if err := os.WriteFile(auth, []byte(placeholderAuth), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// placeholderAuth stands in for base/nats/auth.conf while it is being written: every user, with
// its password from the environment, allowed nothing.
const placeholderAuth = `authorization {
  users = [
    {user: admin, password: $NW_ADMIN_PASSWORD}
    {user: collector, password: $NW_COLLECTOR_PASSWORD}
    {user: detector, password: $NW_DETECTOR_PASSWORD}
    {user: rebooter, password: $NW_REBOOTER_PASSWORD}
    {user: sink, password: $NW_SINK_PASSWORD}
    {user: alerter, password: $NW_ALERTER_PASSWORD}
  ]
}
`

// render runs kustomize (krusty, as `kubectl kustomize` does) on a variant in tree and decodes
// every object strictly.
func render(t *testing.T, tree string, v variant) []object {
	t.Helper()
	dir := filepath.Join(tree, v.dir)
	if len(v.components) > 0 {
		dir = filepath.Join(tree, "e2e-"+strings.NewReplacer("+", "-").Replace(v.name))
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../%s\ncomponents:\n", v.dir)
		for _, c := range v.components {
			fmt.Fprintf(&b, "  - ../components/%s\n", c)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("%s: kustomize build: %v", v.name, err)
	}
	var objs []object
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", v.name, r.CurId(), err)
		}
		o, err := decodeStrict(y)
		if err != nil {
			t.Errorf("%s: %s: %v", v.name, r.CurId(), err)
			continue
		}
		objs = append(objs, object{kind: r.GetKind(), name: r.GetName(), yaml: y, obj: o})
	}
	if len(objs) == 0 {
		t.Fatalf("%s: rendered nothing", v.name)
	}
	return objs
}

// decodeStrict decodes one manifest into its k8s.io/api type, failing on unknown and duplicate
// fields; custom resources become unstructured.
func decodeStrict(y []byte) (runtime.Object, error) {
	var u unstructured.Unstructured
	if err := yaml.Unmarshal(y, &u.Object); err != nil {
		return nil, err
	}
	gvk := u.GroupVersionKind()
	if customKinds[gvk.String()] {
		return &u, nil
	}
	obj, _, err := strictDecoder.Decode(y, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("strict decode as %s: %w", gvk, err)
	}
	return obj, nil
}

// byKind returns the objects of one kind, by name.
func byKind[T runtime.Object](objs []object) map[string]T {
	out := map[string]T{}
	for _, o := range objs {
		if x, ok := o.obj.(T); ok {
			out[o.name] = x
		}
	}
	return out
}

// sameFile fails the test unless the two files hold the same bytes.
func sameFile(t *testing.T, copyPath, origPath string) {
	t.Helper()
	a, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(origPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s: copy it again (cp %s %s)", copyPath, origPath, origPath, copyPath)
	}
}

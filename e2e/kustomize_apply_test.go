package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// crdFiles are the CRDs the components need, installed before the dry runs.
var crdFiles = []string{"testdata/servicemonitor-crd.yaml"}

// access is one request a service account may or may not make.
type access struct {
	verb, group, resource, subresource, namespace string
}

func (a access) String() string {
	r := a.resource
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	if a.group != "" {
		r += "." + a.group
	}
	if a.namespace != "" {
		r += " in " + a.namespace
	}
	return a.verb + " " + r
}

// accesses are the requests checked for every service account: all those any service needs, and
// the dangerous neighbours of each.
var accesses = []access{
	{verb: "get", resource: "nodes"},
	{verb: "list", resource: "nodes"},
	{verb: "watch", resource: "nodes"},
	{verb: "patch", resource: "nodes"},
	{verb: "update", resource: "nodes"},
	{verb: "delete", resource: "nodes"},
	{verb: "patch", resource: "nodes", subresource: "status"},
	{verb: "get", resource: "pods", namespace: "default"},
	{verb: "list", resource: "pods"},
	{verb: "delete", resource: "pods", namespace: "default"},
	{verb: "create", resource: "pods", namespace: "nodewarden"},
	{verb: "create", resource: "pods", subresource: "eviction", namespace: "default"},
	{verb: "get", group: "apps", resource: "daemonsets", namespace: "kube-system"},
	{verb: "update", group: "apps", resource: "daemonsets", namespace: "kube-system"},
	{verb: "create", resource: "events", namespace: "default"},
	{verb: "patch", resource: "events", namespace: "default"},
	{verb: "delete", resource: "events", namespace: "default"},
	{verb: "get", resource: "secrets", namespace: "nodewarden"},
	{verb: "list", resource: "secrets"},
	{verb: "get", resource: "configmaps", namespace: "nodewarden"},
}

// rbacAllowed is what each service account may do among accesses; everything else is denied.
var rbacAllowed = map[string][]access{
	"rebooter": {
		{verb: "get", resource: "nodes"}, {verb: "list", resource: "nodes"}, {verb: "watch", resource: "nodes"}, {verb: "patch", resource: "nodes"},
		{verb: "get", resource: "pods", namespace: "default"}, {verb: "list", resource: "pods"},
		{verb: "create", resource: "pods", subresource: "eviction", namespace: "default"},
		{verb: "get", group: "apps", resource: "daemonsets", namespace: "kube-system"},
	},
	"alerter": {
		{verb: "patch", resource: "nodes", subresource: "status"},
		{verb: "create", resource: "events", namespace: "default"}, {verb: "patch", resource: "events", namespace: "default"},
	},
	"collector": nil, "detector": nil, "sink": nil, "nats": nil, "provision": nil,
}

// Every rendered variant is accepted by a real kube-apiserver (server-side apply, dry run, so
// unknown fields and invalid values fail as they would on a cluster); the base is then applied
// for real and each service account is allowed exactly what its ClusterRole says.
func TestKustomizeApply(t *testing.T) {
	tree := kustomizeTree(t)
	rendered := map[string][]object{}
	for _, v := range variants {
		rendered[v.name] = render(t, tree, v)
	}
	k := testenv.StartKube(t)
	cfg := k.Config()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	for _, f := range crdFiles {
		y, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := apply(ctx, dyn, mapper, y, false); err != nil {
			t.Fatalf("install %s: %v", f, err)
		}
		u, _ := decodeUnstructured(y)
		crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
		testenv.WaitFor(t, 30*time.Second, "CRD "+u.GetName()+" established", func() bool {
			got, err := crds.Get(ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		})
	}
	mapper.Reset()

	// Namespaced objects are dry-run into an existing namespace.
	if err := apply(ctx, dyn, mapper, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: nodewarden\n"), false); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	for _, v := range variants {
		for _, o := range rendered[v.name] {
			if err := apply(ctx, dyn, mapper, o.yaml, true); err != nil {
				t.Errorf("%s: dry-run apply %s %s: %v", v.name, o.kind, o.name, err)
			}
		}
	}
	for _, o := range rendered["base"] {
		if err := apply(ctx, dyn, mapper, o.yaml, false); err != nil {
			t.Fatalf("base: apply %s %s: %v", o.kind, o.name, err)
		}
	}
	if t.Failed() {
		return
	}

	// RBAC takes effect once the authorizer's cache has the bindings: wait for every allowed
	// access, then check that everything else is denied.
	can := func(sa string, a access) (bool, error) {
		sar := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:nodewarden:" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:nodewarden", "system:authenticated"},
			ResourceAttributes: &authv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace,
			},
		}}
		got, err := k.Client().AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return false, fmt.Errorf("SubjectAccessReview %s %s: %w", sa, a, err)
		}
		return got.Status.Allowed, nil
	}
	for sa, want := range rbacAllowed {
		for _, a := range want {
			testenv.WaitFor(t, 30*time.Second, sa+" may "+a.String(), func() bool {
				ok, err := can(sa, a)
				return err == nil && ok
			})
		}
	}
	for sa, want := range rbacAllowed {
		for _, a := range accesses {
			ok, err := can(sa, a)
			if err != nil {
				t.Fatal(err)
			}
			if wantOK := contains(want, a); ok != wantOK {
				t.Errorf("service account %s: %s allowed %v, want %v", sa, a, ok, wantOK)
			}
		}
	}
}

func contains(as []access, a access) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func decodeUnstructured(y []byte) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(y, &u.Object); err != nil {
		return nil, err
	}
	return u, nil
}

// apply server-side-applies one manifest, as `kubectl apply --server-side [--dry-run=server]`.
func apply(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, y []byte, dryRun bool) error {
	u, err := decodeUnstructured(y)
	if err != nil {
		return err
	}
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("map %s: %w", gvk, err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: "nodewarden-e2e", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Apply(ctx, u.GetName(), u, opts)
	return err
}

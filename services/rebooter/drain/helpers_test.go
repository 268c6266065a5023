package drain_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/services/rebooter/drain"
)

const (
	rebooterNamespace = "nodewarden"
	rebooterUser      = "system:serviceaccount:" + rebooterNamespace + ":rebooter"
)

// waitFor retries cond until it returns nil or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() error) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %v)", what, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func newDrainer(t *testing.T, c kubernetes.Interface, node string, opts drain.Options) *drain.Drainer {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	d, err := drain.New(c, node, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func createNamespace(ctx context.Context, t *testing.T, k *testenv.Kube, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := k.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// podSpec is a pod for createPod: owner "rs" gives it a ReplicaSet controller (none runs, and
// drain only looks at the reference), "" none; a *appsv1.DaemonSet makes it that set's pod.
type podSpec struct {
	name, node string
	labels     map[string]string
	owner      any
	emptyDir   bool
}

func createPod(ctx context.Context, t *testing.T, k *testenv.Kube, ns string, s podSpec) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: ns, Labels: s.labels},
		Spec: corev1.PodSpec{
			NodeName:   s.node,
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	yes := true
	switch o := s.owner.(type) {
	case string:
		if o == "rs" {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
				Name: s.name + "-rs", UID: types.UID(s.name + "-rs-uid"), Controller: &yes}}
		}
	case *appsv1.DaemonSet:
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet",
			Name: o.Name, UID: o.UID, Controller: &yes}}
	case nil:
	default:
		t.Fatalf("pod %s: owner %T", s.name, s.owner)
	}
	if s.emptyDir {
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	got, err := k.Client().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, s.name, err)
	}
	return got
}

func createDaemonSet(ctx context.Context, t *testing.T, k *testenv.Kube, ns, name string) *appsv1.DaemonSet {
	t.Helper()
	lbl := map[string]string{"app": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	got, err := k.Client().AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create daemonset %s/%s: %v", ns, name, err)
	}
	return got
}

func getNode(ctx context.Context, t *testing.T, k *testenv.Kube, name string) *corev1.Node {
	t.Helper()
	n, err := k.Client().CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node %s: %v", name, err)
	}
	return n
}

func podExists(ctx context.Context, k *testenv.Kube, ns, name string) error {
	_, err := k.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", ns, name, err)
	}
	return nil
}

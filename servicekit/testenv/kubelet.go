package testenv

import (
	"context"
	"fmt"
	goruntime "runtime"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// kubeletResync is how often every pod of the node is looked at again, so that a status
// update lost to a conflict, or a deletion that failed, is retried within a second.
const kubeletResync = time.Second

// Kubelet plays the kubelet (and the node lifecycle controller) for one Node: the Node is
// Ready, its pods run as soon as they are bound to it, and a pod being deleted is removed at
// once, as a kubelet does when the containers have stopped.
type Kubelet struct {
	// NodeName is the Node this kubelet runs.
	NodeName string

	kube   *Kube
	t      testing.TB
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Kubelet creates the Node nodeName, or adopts it if it exists (keeping its labels, taints
// and other conditions), marks it Ready, and starts playing its kubelet until Stop or the end
// of the test.
//
// It acts only on pods in phase Pending (they become Running, with Ready and ContainersReady
// true) and on pods with a deletionTimestamp (deleted with grace period 0): a test may set any
// other status, e.g. a Running pod that is not Ready, and the kubelet leaves it alone.
func (k *Kube) Kubelet(t testing.TB, nodeName string) *Kubelet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	if err := k.ensureNodeReady(ctx, nodeName); err != nil {
		t.Fatalf("testenv: kubelet for node %s: %v", nodeName, err)
	}

	runCtx, stop := context.WithCancel(context.Background())
	kl := &Kubelet{NodeName: nodeName, kube: k, t: t, ctx: runCtx, cancel: stop, done: make(chan struct{})}
	pods := k.client.CoreV1().Pods(metav1.NamespaceAll)
	onNode := fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = onNode
				return pods.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = onNode
				return pods.Watch(ctx, o)
			},
		},
		ObjectType: &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    kl.sync,
			UpdateFunc: func(_, obj any) { kl.sync(obj) },
		},
		ResyncPeriod: kubeletResync,
	})
	go func() {
		defer close(kl.done)
		informer.RunWithContext(runCtx)
	}()
	t.Cleanup(kl.Stop)
	return kl
}

// Stop stops playing the kubelet and waits until it has stopped; pods keep their last status.
// It is safe to call more than once.
func (kl *Kubelet) Stop() {
	kl.once.Do(func() {
		kl.cancel()
		<-kl.done
	})
}

// sync does what a kubelet would do next for one pod. The handler runs on the informer's
// goroutine, one pod at a time, which is plenty for a test.
func (kl *Kubelet) sync(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pods := kl.kube.client.CoreV1().Pods(pod.Namespace)
	var err error
	switch {
	case pod.DeletionTimestamp != nil:
		zero := int64(0)
		err = pods.Delete(kl.ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			// Only this pod: a new one of the same name (a StatefulSet's) must survive.
			Preconditions: &metav1.Preconditions{UID: &pod.UID},
		})
	case pod.Status.Phase == "" || pod.Status.Phase == corev1.PodPending:
		_, err = pods.UpdateStatus(kl.ctx, runningPod(pod), metav1.UpdateOptions{})
	}
	// A conflict or a vanished pod is settled by the next event or resync.
	if err != nil && kl.ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		kl.t.Logf("testenv: kubelet %s: pod %s/%s: %v", kl.NodeName, pod.Namespace, pod.Name, err)
	}
}

// runningPod returns pod with the status a kubelet reports once every container has started
// and passed its readiness probe.
func runningPod(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = "127.0.0.1"
	p.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	p.Status.StartTime = &now
	for _, c := range []corev1.PodConditionType{
		corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady,
	} {
		setPodCondition(p, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	p.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c.Name), Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now,
			}},
		})
	}
	started := true
	p.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c.Name),
			Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return p
}

func containerID(pod *corev1.Pod, container string) string {
	return fmt.Sprintf("testenv://%s-%s", pod.UID, container)
}

func setPodCondition(p *corev1.Pod, c corev1.PodCondition) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == c.Type {
			p.Status.Conditions[i] = c
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
}

// ensureNodeReady creates or adopts the Node and gives it the status a healthy kubelet
// reports. It also removes the not-ready taint that admission put on the new Node, as the
// node lifecycle controller would once the Node is Ready.
func (k *Kube) ensureNodeReady(ctx context.Context, name string) error {
	nodes := k.client.CoreV1().Nodes()
	_, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				corev1.LabelHostname:   name,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: goruntime.GOARCH,
			},
		}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // created meanwhile: adopt it
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("get or create node: %w", err)
	}
	version, err := k.client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("get server version: %w", err)
	}

	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		setNodeCondition(node, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", Message: "kubelet is posting ready status (testenv)",
			LastHeartbeatTime: now, LastTransitionTime: now})
		// The pressure conditions a kubelet reports, with its reasons; any the test (or a
		// detector) already set are kept.
		for c, reason := range map[corev1.NodeConditionType]string{
			corev1.NodeMemoryPressure: "KubeletHasSufficientMemory",
			corev1.NodeDiskPressure:   "KubeletHasNoDiskPressure",
			corev1.NodePIDPressure:    "KubeletHasSufficientPID",
		} {
			if !slices.ContainsFunc(node.Status.Conditions, func(nc corev1.NodeCondition) bool { return nc.Type == c }) {
				setNodeCondition(node, corev1.NodeCondition{Type: c, Status: corev1.ConditionFalse,
					Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now})
			}
		}
		node.Status.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: name},
		}
		resources := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("8Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		node.Status.Capacity = resources
		node.Status.Allocatable = resources
		node.Status.NodeInfo.OperatingSystem = "linux"
		node.Status.NodeInfo.Architecture = goruntime.GOARCH
		node.Status.NodeInfo.KubeletVersion = version.GitVersion
		_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set node status ready: %w", err)
	}

	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		kept := slices.DeleteFunc(slices.Clone(node.Spec.Taints), func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeNotReady
		})
		if len(kept) == len(node.Spec.Taints) {
			return nil
		}
		node.Spec.Taints = kept
		_, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove not-ready taint: %w", err)
	}
	return nil
}

func setNodeCondition(n *corev1.Node, c corev1.NodeCondition) {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == c.Type {
			n.Status.Conditions[i] = c
			return
		}
	}
	n.Status.Conditions = append(n.Status.Conditions, c)
}

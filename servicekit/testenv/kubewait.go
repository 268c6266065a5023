package testenv

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WaitPodRunning waits until the pod is Running with its Ready condition true, and returns it.
func (k *Kube) WaitPodRunning(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := poll(ctx, fmt.Sprintf("pod %s/%s running and ready", namespace, name), func(ctx context.Context) (bool, error) {
		p, err := k.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, fmt.Errorf("%w: %w", errNotYet, err)
		}
		if err != nil {
			return false, err
		}
		pod = p
		if p.Status.Phase != corev1.PodRunning || !podReady(p) {
			return false, fmt.Errorf("%w: phase %q, ready %t", errNotYet, p.Status.Phase, podReady(p))
		}
		return true, nil
	})
	return pod, err
}

// WaitPodDeleted waits until the pod no longer exists.
func (k *Kube) WaitPodDeleted(ctx context.Context, namespace, name string) error {
	return poll(ctx, fmt.Sprintf("pod %s/%s deleted", namespace, name), func(ctx context.Context) (bool, error) {
		_, err := k.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, nil
	})
}

// WaitNodeCondition waits until the Node has condition typ with status, and returns the Node.
func (k *Kube) WaitNodeCondition(ctx context.Context, name string, typ corev1.NodeConditionType, status corev1.ConditionStatus) (*corev1.Node, error) {
	var node *corev1.Node
	err := poll(ctx, fmt.Sprintf("node %s condition %s=%s", name, typ, status), func(ctx context.Context) (bool, error) {
		n, err := k.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = n
		for _, c := range n.Status.Conditions {
			if c.Type == typ && c.Status == status {
				return true, nil
			}
		}
		return false, nil
	})
	return node, err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// identity is a service's RBAC identity: its service account and the ClusterRole its own
// tests run under, so the e2e runs every Kubernetes call with exactly those rights.
type identity struct {
	namespace, account, roleFile string
}

var (
	rebooterRole = identity{"nodewarden", "rebooter", "../services/rebooter/drain/testdata/clusterrole.yaml"}
	alerterRole  = identity{"nodewarden", "alerter", "../services/alerter/kube/testdata/clusterrole.yaml"}
)

// identity binds id's ClusterRole to its service account, waits until the role is in force,
// and writes a kubeconfig acting as that account (by impersonation from the admin's
// credentials: the API server then authorizes each call as the account alone).
func (e *Env) identity(id identity) string {
	t := e.T
	t.Helper()
	e.Kube.ClientForRole(t, id.roleFile, id.namespace, id.account)
	user := "system:serviceaccount:" + id.namespace + ":" + id.account
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + id.namespace}
	rc := e.Kube.ConfigAs(user, groups...)

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{
		Server:                   rc.Host,
		InsecureSkipTLSVerify:    rc.Insecure,
		CertificateAuthority:     rc.CAFile,
		CertificateAuthorityData: rc.CAData,
	}
	cfg.AuthInfos[id.account] = &clientcmdapi.AuthInfo{
		Token:                 rc.BearerToken,
		TokenFile:             rc.BearerTokenFile,
		ClientCertificate:     rc.CertFile,
		ClientCertificateData: rc.CertData,
		ClientKey:             rc.KeyFile,
		ClientKeyData:         rc.KeyData,
		Impersonate:           rc.Impersonate.UserName,
		ImpersonateGroups:     rc.Impersonate.Groups,
	}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: id.account}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(e.Dir, id.account+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("write kubeconfig of %s: %v", user, err)
	}
	return path
}

// CordonedNodes lists the unschedulable Nodes, as the admin sees them.
func (e *Env) CordonedNodes() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := e.Kube.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []string
	for _, n := range list.Items {
		if n.Spec.Unschedulable {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

// RunPod creates a pod bound to node with a ReplicaSet as its controller (none runs: drain only
// looks at the reference, and evicts such a pod without --force), in namespace ns (created if
// missing), and waits until the node's kubelet runs it.
func (e *Env) RunPod(ns, name, node string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.Kube.Client()
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.Fatalf("create namespace %s: %v", ns, err)
	}
	yes := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-rs", UID: types.UID(name + "-rs-uid"), Controller: &yes}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		e.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	if _, err := e.Kube.WaitPodRunning(ctx, ns, name); err != nil {
		e.Fatalf("pod %s/%s: %v", ns, name, err)
	}
}

// PodsOn lists the pods bound to node (namespace/name), as the admin sees them.
func (e *Env) PodsOn(node string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := e.Kube.Client().CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, fmt.Errorf("list pods on %s: %w", node, err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out, nil
}

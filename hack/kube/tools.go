//go:build tools

// Package kube pins the Kubernetes API server and etcd that the tests start; it is built by
// hack/install-kube.sh, never imported.
package kube

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)

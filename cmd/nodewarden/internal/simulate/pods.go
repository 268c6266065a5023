package simulate

import (
	"math/rand/v2"
	"strconv"
	"strings"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// podKind decides how a pod is named, as its controller would name it.
type podKind int

const (
	daemonSet podKind = iota
	deployment
	statefulSet
	job
)

// appSpec is a workload a fake node may run. cores and wsMiB are what its containers use on
// average; the generator varies around them.
type appSpec struct {
	namespace  string
	name       string
	kind       podKind
	qos        nwv1.QOSClass // unspecified = burstable or guaranteed at random
	containers []ctrSpec
}

type ctrSpec struct {
	name  string
	image string
	cores float64
	wsMiB float64
}

// daemonSets run on every node, the rest fill it up to the container count.
var daemonSets = []appSpec{
	{"kube-system", "kube-proxy", daemonSet, nwv1.QOSClass_QOS_CLASS_BURSTABLE, []ctrSpec{
		{"kube-proxy", "registry.k8s.io/kube-proxy:v1.33.2", 0.02, 40}}},
	{"kube-system", "calico-node", daemonSet, nwv1.QOSClass_QOS_CLASS_BURSTABLE, []ctrSpec{
		{"calico-node", "docker.io/calico/node:v3.29.3", 0.05, 150}}},
	{"kube-system", "ebs-csi-node", daemonSet, nwv1.QOSClass_QOS_CLASS_BURSTABLE, []ctrSpec{
		{"ebs-plugin", "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.41.0", 0.003, 20},
		{"node-driver-registrar", "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.13.0", 0.001, 10},
		{"liveness-probe", "registry.k8s.io/sig-storage/livenessprobe:v2.15.0", 0.001, 10}}},
	{"monitoring", "node-exporter", daemonSet, nwv1.QOSClass_QOS_CLASS_BURSTABLE, []ctrSpec{
		{"node-exporter", "quay.io/prometheus/node-exporter:v1.9.1", 0.02, 30},
		{"kube-rbac-proxy", "quay.io/brancz/kube-rbac-proxy:v0.19.0", 0.005, 20}}},
	{"monitoring", "promtail", daemonSet, nwv1.QOSClass_QOS_CLASS_BURSTABLE, []ctrSpec{
		{"promtail", "docker.io/grafana/promtail:3.4.2", 0.05, 90}}},
}

var workloads = []appSpec{
	{"kube-system", "coredns", deployment, nwv1.QOSClass_QOS_CLASS_BURSTABLE, []ctrSpec{
		{"coredns", "registry.k8s.io/coredns/coredns:v1.12.0", 0.01, 25}}},
	{"shop", "frontend", deployment, 0, []ctrSpec{
		{"nginx", "docker.io/library/nginx:1.27.4", 0.1, 60}}},
	{"shop", "cart", deployment, 0, []ctrSpec{
		{"cart", "ghcr.io/acme/cart:2.14.1", 0.3, 300},
		{"envoy", "docker.io/envoyproxy/envoy:v1.33.2", 0.05, 80}}},
	{"shop", "checkout", deployment, 0, []ctrSpec{
		{"checkout", "ghcr.io/acme/checkout:5.2.0", 0.8, 1500}}},
	{"shop", "redis", statefulSet, nwv1.QOSClass_QOS_CLASS_GUARANTEED, []ctrSpec{
		{"redis", "docker.io/library/redis:7.4.2", 0.1, 500}}},
	{"payments", "payments-api", deployment, 0, []ctrSpec{
		{"api", "ghcr.io/acme/payments-api:1.8.3", 0.4, 400},
		{"istio-proxy", "docker.io/istio/proxyv2:1.25.1", 0.05, 90}}},
	{"data", "postgres", statefulSet, nwv1.QOSClass_QOS_CLASS_GUARANTEED, []ctrSpec{
		{"postgres", "docker.io/library/postgres:17.4", 0.5, 2000}}},
	{"data", "kafka", statefulSet, nwv1.QOSClass_QOS_CLASS_GUARANTEED, []ctrSpec{
		{"kafka", "docker.io/bitnami/kafka:3.9.0", 0.6, 3000}}},
	{"batch", "nightly-report", job, nwv1.QOSClass_QOS_CLASS_BEST_EFFORT, []ctrSpec{
		{"report", "ghcr.io/acme/report:2026.07.1", 1.2, 800}}},
	{"default", "web", deployment, 0, []ctrSpec{
		{"web", "ghcr.io/acme/web:3.1.0", 0.15, 200}}},
}

// podNameChars is the alphabet Kubernetes uses for generated name suffixes.
const podNameChars = "bcdfghjklmnpqrstvwxz2456789"

func suffix(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = podNameChars[r.IntN(len(podNameChars))]
	}
	return string(b)
}

func podName(r *rand.Rand, a appSpec) string {
	switch a.kind {
	case daemonSet:
		return a.name + "-" + suffix(r, 5)
	case statefulSet:
		return a.name + "-" + strconv.Itoa(r.IntN(5))
	case job:
		return a.name + "-" + strconv.Itoa(29_000_000+r.IntN(1_000_000)) + "-" + suffix(r, 5)
	}
	return a.name + "-" + suffix(r, 10) + "-" + suffix(r, 5)
}

const hexDigits = "0123456789abcdef"

// uuid is a random (version 4) UUID, as Kubernetes gives pods.
func uuid(r *rand.Rand) string {
	var b [36]byte
	for i := range b {
		b[i] = hexDigits[r.IntN(16)]
	}
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	b[14] = '4'
	b[19] = "89ab"[r.IntN(4)]
	return string(b[:])
}

// containerID is 64 hex digits, as containerd names containers.
func containerID(r *rand.Rand) string {
	var b [64]byte
	for i := range b {
		b[i] = hexDigits[r.IntN(16)]
	}
	return string(b[:])
}

// cgroupPath is where the systemd cgroup driver puts a container on cgroup v2.
func cgroupPath(qos nwv1.QOSClass, podUID, id string) string {
	uid := strings.ReplaceAll(podUID, "-", "_")
	scope := "/cri-containerd-" + id + ".scope"
	switch qos {
	case nwv1.QOSClass_QOS_CLASS_GUARANTEED:
		return "/kubepods.slice/kubepods-pod" + uid + ".slice" + scope
	case nwv1.QOSClass_QOS_CLASS_BEST_EFFORT:
		return "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid + ".slice" + scope
	}
	return "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice" + scope
}

// placePods picks the pods of a node: the daemon sets first, then workloads at random, the last
// pod cut short so that there are exactly m containers.
func placePods(r *rand.Rand, m int) [][2]int {
	var picks [][2]int // app index (negative: daemon set -1-i), containers taken
	for i := 0; m > 0; i++ {
		var a appSpec
		idx := 0
		if i < len(daemonSets) {
			a, idx = daemonSets[i], -1-i
		} else {
			idx = r.IntN(len(workloads))
			a = workloads[idx]
		}
		k := min(len(a.containers), m)
		picks = append(picks, [2]int{idx, k})
		m -= k
	}
	return picks
}

func appAt(idx int) appSpec {
	if idx < 0 {
		return daemonSets[-1-idx]
	}
	return workloads[idx]
}

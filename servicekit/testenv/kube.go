package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	etcdStartTimeout = 60 * time.Second
	// kubeStartTimeout is generous: ≈4 s on an idle 2-core machine, but the apiserver's
	// post-start hooks (RBAC bootstrap, CRDs, APF) slow down a lot when tests run in parallel.
	kubeStartTimeout = 120 * time.Second
	// kubeAdminUser is the identity of the admin token, a member of system:masters.
	kubeAdminUser = "nodewarden-admin"
)

// Kube is a real kube-apiserver backed by its own etcd, with RBAC authorization and no
// controllers, scheduler or kubelets: tests play those parts (see Kubelet).
type Kube struct {
	// URL is the API server address, e.g. https://127.0.0.1:41234.
	URL string

	config  *rest.Config
	client  kubernetes.Interface
	etcdURL string
}

// StartKube starts etcd and kube-apiserver on free loopback ports with data, certificates and
// keys in temp dirs, waits for /readyz, and stops both when the test ends. The binaries come
// from `make deps` (hack/install-kube.sh); the flags follow the kube-apiserver recipe of the
// design notes.
func StartKube(t testing.TB) *Kube {
	t.Helper()
	apiserverBin := kubeBinary(t, "kube-apiserver")
	etcdBin := kubeBinary(t, "etcd")
	etcdDir := t.TempDir()
	apiDir := t.TempDir()
	ports := freePorts(t, 3) // etcd client, etcd peer, apiserver
	start := time.Now()

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	etcd := startProcess(t, "etcd", etcdDir, etcdBin,
		"--name=nodewarden",
		"--data-dir="+filepath.Join(etcdDir, "data"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=nodewarden="+peerURL,
		// A test's data is thrown away: fsync would only make every write wait for the disk.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	hc := &http.Client{Timeout: 10 * time.Second}
	etcd.waitReady(t, etcdStartTimeout, func(ctx context.Context) error {
		return httpCheck(ctx, hc, http.MethodGet, etcdURL+"/health", nil, http.StatusOK)
	})

	token := rand.Text() // 128 random bits
	tokenFile := filepath.Join(apiDir, "tokens.csv")
	// token,user,uid,"group1,group2": system:masters passes every RBAC check.
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", token, kubeAdminUser, kubeAdminUser)
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		t.Fatalf("testenv: write kube token file: %v", err)
	}
	keyFile, pubFile := writeServiceAccountKeys(t, apiDir)

	apiURL := fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	api := startProcess(t, "kube-apiserver", apiDir, apiserverBin,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[2]),
		"--cert-dir="+filepath.Join(apiDir, "certs"),
		"--etcd-servers="+etcdURL,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pubFile,
		"--service-account-signing-key-file="+keyFile,
		"--token-auth-file="+tokenFile,
		// RBAC, as in production, so the roles our manifests grant are really enforced.
		"--authorization-mode=RBAC",
		// No controller-manager creates service accounts or their tokens, so the admission
		// plugin would reject every pod.
		"--disable-admission-plugins=ServiceAccount",
		// With no kube-proxy or endpoints controller, keeping the kubernetes Service's
		// endpoints is pointless work.
		"--endpoint-reconciler-type=none",
		// The collector DaemonSet is privileged, as in real clusters; manifests are checked
		// by dry-run apply here.
		"--allow-privileged=true",
	)
	readyHeader := http.Header{"Authorization": {"Bearer " + token}}
	// The serving certificate is self-signed and made at start: nothing to verify it against.
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback test server
	}}
	defer insecure.CloseIdleConnections()
	api.waitReady(t, kubeStartTimeout, func(ctx context.Context) error {
		return httpCheck(ctx, insecure, http.MethodGet, apiURL+"/readyz", readyHeader, http.StatusOK)
	})
	t.Logf("testenv: etcd and kube-apiserver ready at %s in %s", apiURL, time.Since(start).Round(time.Millisecond))

	cfg := &rest.Config{
		Host:            apiURL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		// client-go's default 5 qps throttles tests that create many objects in a row.
		QPS:   200,
		Burst: 400,
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("testenv: kubernetes admin client: %v", err)
	}
	return &Kube{URL: apiURL, config: cfg, client: client, etcdURL: etcdURL}
}

// Config returns a copy of the admin's client configuration (system:masters).
func (k *Kube) Config() *rest.Config {
	return rest.CopyConfig(k.config)
}

// Client returns a clientset acting as the admin (system:masters).
func (k *Kube) Client() kubernetes.Interface {
	return k.client
}

// ConfigAs returns a configuration that impersonates user with groups, starting from the
// admin's: requests are authorized as that identity alone, so RBAC rules are enforced for it
// exactly as for a service account token. The API server adds system:authenticated.
func (k *Kube) ConfigAs(user string, groups ...string) *rest.Config {
	cfg := k.Config()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// ClientAs returns a clientset acting as user with groups (see ConfigAs). A service account
// is user "system:serviceaccount:<ns>:<name>" with groups "system:serviceaccounts" and
// "system:serviceaccounts:<ns>".
func (k *Kube) ClientAs(user string, groups ...string) kubernetes.Interface {
	c, err := kubernetes.NewForConfig(k.ConfigAs(user, groups...))
	if err != nil {
		// The same configuration minus impersonation built the admin client in StartKube,
		// and impersonation adds no way to fail.
		panic(fmt.Sprintf("testenv: kubernetes client as %q: %v", user, err))
	}
	return c
}

// writeServiceAccountKeys makes the RSA key pair the API server signs and verifies service
// account tokens with, and returns the private and public key files.
func writeServiceAccountKeys(t testing.TB, dir string) (keyFile, pubFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("testenv: generate service account key: %v", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("testenv: encode service account public key: %v", err)
	}
	keyFile = filepath.Join(dir, "sa.key")
	pubFile = filepath.Join(dir, "sa.pub")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatalf("testenv: write service account key: %v", err)
	}
	if err := os.WriteFile(pubFile, pubPEM, 0o600); err != nil {
		t.Fatalf("testenv: write service account public key: %v", err)
	}
	return keyFile, pubFile
}

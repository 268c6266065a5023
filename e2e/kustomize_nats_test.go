package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
)

// The rendered NATS configuration loads in a real nats-server with the environment the
// StatefulSet gives it: server name from the pod, JetStream on the volume, routes to the three
// servers (none in dev), every user with its password from Secret nats-users, and TLS with
// client verification when the tls component is in.
func TestKustomizeManifestsNATSConfig(t *testing.T) {
	tree := kustomizeTree(t)
	cases := []struct {
		v      variant
		routes int
		tls    bool
	}{
		{variant{name: "base", dir: "base"}, 3, false},
		{variant{name: "dev", dir: "overlays/dev"}, 0, false},
		{variant{name: "production", dir: "overlays/production"}, 3, false},
		{variant{name: "base+tls", dir: "base", components: []string{"tls"}}, 3, true},
	}
	for _, c := range cases {
		t.Run(c.v.name, func(t *testing.T) {
			objs := render(t, tree, c.v)
			cm := configMapNamed(objs, "nats-config")
			sts := byKind[*appsv1.StatefulSet](objs)["nats"]
			if cm == nil || sts == nil {
				t.Fatalf("no ConfigMap nats-config or StatefulSet nats")
			}
			dir := t.TempDir()
			tlsDir := filepath.Join(dir, "tls")
			for key, data := range cm.Data {
				// The Secret's mount point, here a temp dir.
				data = strings.ReplaceAll(data, "/etc/nats/tls/", tlsDir+"/")
				if err := os.WriteFile(filepath.Join(dir, key), []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if c.tls {
				writeSelfSignedTLS(t, tlsDir)
			}
			// The pod's environment: the downward API and a value for every Secret key.
			passwords := map[string]string{}
			for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
				switch {
				case e.Name == "POD_NAME":
					t.Setenv(e.Name, "nats-0")
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					pw := rand.Text()
					passwords[e.ValueFrom.SecretKeyRef.Key] = pw
					t.Setenv(e.Name, pw)
				}
			}
			opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
			if err != nil {
				t.Fatalf("nats-server refuses the rendered configuration: %v", err)
			}
			if opts.ServerName != "nats-0" || !opts.JetStream || opts.StoreDir != "/data" {
				t.Errorf("server_name %q, jetstream %v, store_dir %q: want nats-0, true, /data", opts.ServerName, opts.JetStream, opts.StoreDir)
			}
			if len(opts.Routes) != c.routes || (c.routes > 0 && opts.Cluster.Name != "nodewarden") {
				t.Errorf("%d routes in cluster %q, want %d", len(opts.Routes), opts.Cluster.Name, c.routes)
			}
			if want := []string{"admin", "collector", "detector", "rebooter", "sink", "alerter"}; len(opts.Users) != len(want) {
				t.Errorf("%d users, want %d (%v)", len(opts.Users), len(want), want)
			}
			for _, u := range opts.Users {
				if want, ok := passwords[u.Username]; !ok || u.Password != want {
					t.Errorf("user %s: password not the one from Secret nats-users key %s", u.Username, u.Username)
				}
			}
			verify := opts.TLSConfig != nil && opts.TLSConfig.ClientAuth == tls.RequireAndVerifyClientCert
			if c.tls != (opts.TLSConfig != nil) || c.tls != verify {
				t.Errorf("TLS configured %v, client certificates verified %v; want both %v", opts.TLSConfig != nil, verify, c.tls)
			}
		})
	}
}

// writeSelfSignedTLS writes tls.crt, tls.key and ca.crt (the same self-signed certificate)
// into dir, as the Secret nats-server-tls would hold them.
func writeSelfSignedTLS(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nats"},
		DNSNames:              []string{"nats", "nats.nodewarden.svc"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	files := map[string][]byte{
		"tls.crt": cert,
		"ca.crt":  cert,
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

package e2e

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// service is what the manifests must say about one nodewarden service.
type service struct {
	port      int32 // --http-listen: /metrics, /healthz, /readyz
	hostRoles bool  // the collector and the rebooter: the documented exceptions to non-root
}

var services = map[string]service{
	"collector": {port: 9101, hostRoles: true},
	"detector":  {port: 9102},
	"rebooter":  {port: 9103, hostRoles: true},
	"sink":      {port: 9104},
	"alerter":   {port: 9105},
}

// Every variant renders, decodes strictly, and keeps every object in namespace nodewarden.
func TestKustomizeManifestsRender(t *testing.T) {
	tree := kustomizeTree(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for _, o := range render(t, tree, v) {
				namespaced := !map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}[o.kind]
				var meta struct {
					Metadata struct {
						Namespace string            `json:"namespace"`
						Labels    map[string]string `json:"labels"`
					} `json:"metadata"`
				}
				if err := yaml.Unmarshal(o.yaml, &meta); err != nil {
					t.Fatal(err)
				}
				if namespaced && meta.Metadata.Namespace != "nodewarden" {
					t.Errorf("%s %s: namespace %q, want nodewarden", o.kind, o.name, meta.Metadata.Namespace)
				}
				if meta.Metadata.Labels["app.kubernetes.io/part-of"] != "nodewarden" {
					t.Errorf("%s %s: no label app.kubernetes.io/part-of=nodewarden", o.kind, o.name)
				}
			}
		})
	}
}

// The ClusterRoles are exactly the files the services' tests run under; only the rebooter and
// the alerter are bound to one, and only they get an API token.
func TestKustomizeManifestsRBAC(t *testing.T) {
	tree := kustomizeTree(t)
	want := map[string]string{
		"nodewarden-rebooter": "../services/rebooter/drain/testdata/clusterrole.yaml",
		"nodewarden-alerter":  "../services/alerter/kube/testdata/clusterrole.yaml",
	}
	for _, v := range variants {
		objs := render(t, tree, v)
		roles := byKind[*rbacv1.ClusterRole](objs)
		if len(roles) != len(want) {
			t.Errorf("%s: ClusterRoles %v, want exactly %v", v.name, keys(roles), keys(want))
		}
		for name, path := range want {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var exp rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict(b, &exp); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			got, ok := roles[name]
			if !ok {
				t.Errorf("%s: no ClusterRole %s", v.name, name)
				continue
			}
			if !reflect.DeepEqual(got.Rules, exp.Rules) {
				t.Errorf("%s: ClusterRole %s rules\n%+v\nwant (as %s)\n%+v", v.name, name, got.Rules, path, exp.Rules)
			}
		}
		bindings := byKind[*rbacv1.ClusterRoleBinding](objs)
		wantBindings := map[string]string{"nodewarden-rebooter": "rebooter", "nodewarden-alerter": "alerter"}
		if len(bindings) != len(wantBindings) {
			t.Errorf("%s: ClusterRoleBindings %v, want %v", v.name, keys(bindings), keys(wantBindings))
		}
		for name, sa := range wantBindings {
			b := bindings[name]
			wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: "nodewarden"}}
			if b == nil || b.RoleRef.Name != name || b.RoleRef.Kind != "ClusterRole" || !reflect.DeepEqual(b.Subjects, wantSubj) {
				t.Errorf("%s: ClusterRoleBinding %s = %+v, want ClusterRole %s to %+v", v.name, name, b, name, wantSubj)
			}
		}
		if n := len(byKind[*rbacv1.Role](objs)) + len(byKind[*rbacv1.RoleBinding](objs)); n != 0 {
			t.Errorf("%s: %d Roles or RoleBindings, want none", v.name, n)
		}
		sas := byKind[*corev1.ServiceAccount](objs)
		for _, w := range workloads(objs) {
			sa := sas[w.pod.ServiceAccountName]
			if sa == nil {
				t.Errorf("%s: %s runs as ServiceAccount %q, which is not in the manifests", v.name, w.name, w.pod.ServiceAccountName)
				continue
			}
			mounts := true
			if sa.AutomountServiceAccountToken != nil {
				mounts = *sa.AutomountServiceAccountToken
			}
			if w.pod.AutomountServiceAccountToken != nil {
				mounts = *w.pod.AutomountServiceAccountToken
			}
			if wantMount := w.name == "rebooter" || w.name == "alerter"; mounts != wantMount {
				t.Errorf("%s: %s mounts an API token: %v, want %v", v.name, w.name, mounts, wantMount)
			}
		}
	}
}

// secretish are environment variable names whose value must come from a Secret.
var secretish = regexp.MustCompile(`(?i)(password|token|secret|webhook|credential)`)

// secretValue are values that look like a credential written inline.
var secretValue = regexp.MustCompile(`(?i)(xox[abpr]-|hooks\.slack\.com|-----BEGIN|password=)`)

// No secret value is in the manifests: no Secret objects, secret-looking variables only through
// secretKeyRef, and the NATS configuration's passwords only as environment references.
func TestKustomizeManifestsNoInlineSecrets(t *testing.T) {
	tree := kustomizeTree(t)
	for _, v := range variants {
		objs := render(t, tree, v)
		for _, o := range objs {
			if o.kind == "Secret" {
				t.Errorf("%s: Secret %s in the manifests: Secrets are created by the operator", v.name, o.name)
			}
			if secretValue.Match(o.yaml) {
				t.Errorf("%s: %s %s holds what looks like a credential: %s", v.name, o.kind, o.name, secretValue.Find(o.yaml))
			}
		}
		for _, w := range workloads(objs) {
			for _, c := range w.containers() {
				for _, e := range c.Env {
					if secretish.MatchString(e.Name) && !strings.HasSuffix(e.Name, "_FILE") && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
						t.Errorf("%s: %s/%s: %s is set inline; it must come from a secretKeyRef", v.name, w.name, c.Name, e.Name)
					}
				}
			}
		}
		for _, cm := range byKind[*corev1.ConfigMap](objs) {
			for key, data := range cm.Data {
				for _, m := range regexp.MustCompile(`(?m)\bpassword\s*[:=]\s*(\S+)`).FindAllStringSubmatch(data, -1) {
					if !strings.HasPrefix(m[1], "$") {
						t.Errorf("%s: ConfigMap %s key %s: literal password %q; refer to an environment variable", v.name, cm.Name, key, m[1])
					}
				}
			}
		}
	}
}

// Each service logs in to NATS as its own user, with the password from Secret nats-users, and
// the NATS servers get every password auth.conf refers to from the same Secret.
func TestKustomizeManifestsNATSUsers(t *testing.T) {
	tree := kustomizeTree(t)
	auth, err := os.ReadFile(filepath.Join(tree, "base", "nats", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`\$(NW_([A-Z]+)_PASSWORD)`).FindAllStringSubmatch(string(auth), -1)
	if len(refs) == 0 {
		t.Fatalf("auth.conf refers to no $NW_<USER>_PASSWORD")
	}
	wantNATS := map[string]int32{"base": 3, "dev": 1, "production": 3}
	for _, v := range variants {
		objs := render(t, tree, v)
		sts := byKind[*appsv1.StatefulSet](objs)["nats"]
		if sts == nil {
			t.Fatalf("%s: no StatefulSet nats", v.name)
		}
		if n, ok := wantNATS[v.name]; ok && *sts.Spec.Replicas != n {
			t.Errorf("%s: %d NATS servers, want %d", v.name, *sts.Spec.Replicas, n)
		}
		env := envOf(sts.Spec.Template.Spec.Containers[0])
		for _, r := range refs {
			ref := env[r[1]].ValueFrom
			if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "nats-users" || ref.SecretKeyRef.Key != strings.ToLower(r[2]) || ref.SecretKeyRef.Optional != nil {
				t.Errorf("%s: NATS server env %s = %+v, want Secret nats-users key %s (auth.conf refers to it)", v.name, r[1], env[r[1]], strings.ToLower(r[2]))
			}
		}
		for _, w := range workloads(objs) {
			user := w.name
			if w.name == "provision" {
				user = "admin"
			} else if _, ok := services[w.name]; !ok {
				continue
			}
			env := envOf(w.containers()[0])
			pw := env["NW_NATS_PASSWORD"].ValueFrom
			if env["NW_NATS_USER"].Value != user || pw == nil || pw.SecretKeyRef == nil || pw.SecretKeyRef.Name != "nats-users" || pw.SecretKeyRef.Key != user {
				t.Errorf("%s: %s logs in as %q with %+v, want user %s and Secret nats-users key %s", v.name, w.name, env["NW_NATS_USER"].Value, pw, user, user)
			}
		}
		job := workloadsByName(objs)["provision"]
		if want, ok := wantNATS[v.name]; ok && envOf(job.containers()[0])["NW_REPLICAS"].Value != itoa(want) {
			t.Errorf("%s: provision --replicas %q, want %d", v.name, envOf(job.containers()[0])["NW_REPLICAS"].Value, want)
		}
	}
}

// Production spreads NATS servers over nodes and guards the quorum and the replicated services
// with PodDisruptionBudgets.
func TestKustomizeManifestsProduction(t *testing.T) {
	objs := render(t, kustomizeTree(t), variant{name: "production", dir: "overlays/production"})
	sts := byKind[*appsv1.StatefulSet](objs)["nats"]
	aff := sts.Spec.Template.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 ||
		aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("NATS servers not spread one per node: affinity %+v", aff)
	}
	pdbs := byKind[*policyv1.PodDisruptionBudget](objs)
	for _, name := range []string{"nats", "detector", "sink"} {
		p := pdbs[name]
		if p == nil {
			t.Errorf("no PodDisruptionBudget %s", name)
			continue
		}
		if p.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != name {
			t.Errorf("PodDisruptionBudget %s selects %v", name, p.Spec.Selector.MatchLabels)
		}
	}
	if n := pdbs["nats"].Spec.MaxUnavailable; n == nil || n.IntValue() != 1 {
		t.Errorf("NATS PodDisruptionBudget maxUnavailable %v, want 1 (two of three keep the quorum)", n)
	}
	for name, want := range map[string]int32{"detector": 2, "sink": 2} {
		if d := byKind[*appsv1.Deployment](objs)[name]; *d.Spec.Replicas != want {
			t.Errorf("%s: %d replicas, want %d", name, *d.Spec.Replicas, want)
		}
	}
}

// The rule files in the rules ConfigMap are the detector's and the collector's built-in ones,
// byte for byte; the Grafana component's are deploy/grafana's.
func TestKustomizeManifestsCopies(t *testing.T) {
	tree := kustomizeTree(t)
	objs := render(t, tree, variant{name: "base+grafana", dir: "base", components: []string{"grafana"}})
	cases := []struct{ configMap, key, orig string }{
		{"nodewarden-rules", "kernel-monitor.json", "../services/detector/rules/kernel-monitor.json"},
		{"nodewarden-rules", "kernel-monitor.json", "../services/collector/monitors/kernel-monitor.json"},
		{"nodewarden-rules", "health-rules.yaml", "../services/detector/healthrules/defaults.yaml"},
		{"nodewarden-grafana-datasource", "influxdb.yaml", "../deploy/grafana/provisioning/datasources/influxdb.yaml"},
	}
	// Every dashboard, so a new one is not forgotten.
	dashboards, err := filepath.Glob("../deploy/grafana/dashboards/*.json")
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards in deploy/grafana/dashboards: %v", err)
	}
	for _, d := range dashboards {
		cases = append(cases, struct{ configMap, key, orig string }{"nodewarden-grafana-dashboards", filepath.Base(d), d})
	}
	if cm := configMapNamed(objs, "nodewarden-grafana-dashboards"); cm != nil && len(cm.Data) != len(dashboards) {
		t.Errorf("ConfigMap %s holds %d dashboards, deploy/grafana/dashboards %d", cm.Name, len(cm.Data), len(dashboards))
	}
	for _, c := range cases {
		orig, err := os.ReadFile(c.orig)
		if err != nil {
			t.Fatal(err)
		}
		cm := configMapNamed(objs, c.configMap)
		if cm == nil {
			t.Errorf("no ConfigMap %s", c.configMap)
			continue
		}
		if cm.Data[c.key] != string(orig) {
			t.Errorf("ConfigMap %s key %s differs from %s: copy the file again under deploy/kustomize", cm.Name, c.key, c.orig)
		}
	}
	for name, label := range map[string]string{"nodewarden-grafana-dashboards": "grafana_dashboard", "nodewarden-grafana-datasource": "grafana_datasource"} {
		if cm := configMapNamed(objs, name); cm == nil || cm.Labels[label] != "1" {
			t.Errorf("ConfigMap %s: no label %s=\"1\" for Grafana's sidecar", name, label)
		}
	}
}

// configMapNamed finds a generated ConfigMap by its name without the hash suffix.
func configMapNamed(objs []object, name string) *corev1.ConfigMap {
	for n, cm := range byKind[*corev1.ConfigMap](objs) {
		if n == name || regexp.MustCompile(`^`+regexp.QuoteMeta(name)+`-[a-z0-9]{10}$`).MatchString(n) {
			return cm
		}
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

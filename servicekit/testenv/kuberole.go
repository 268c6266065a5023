package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// ClientForRole gives a service its production RBAC identity: it loads the ClusterRole in
// roleFile strictly (a misspelt field fails), creates it, binds it to the service account
// namespace:account, waits until the authorizer grants every rule of it (the binding reaches
// the authorizer through an informer), and returns a client acting as that account alone, so
// a permission the role lacks fails the test.
func (k *Kube) ClientForRole(t testing.TB, roleFile, namespace, account string) kubernetes.Interface {
	t.Helper()
	return k.ClientWithRole(t, LoadClusterRole(t, roleFile), namespace, account)
}

// LoadClusterRole reads a ClusterRole manifest strictly.
func LoadClusterRole(t testing.TB, file string) rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("testenv: read role: %v", err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatalf("testenv: parse %s: %v", file, err)
	}
	return role
}

// ClientWithRole is ClientForRole for a role built by the test (e.g. one rule removed).
func (k *Kube) ClientWithRole(t testing.TB, role rbacv1.ClusterRole, namespace, account string) kubernetes.Interface {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := k.Client()
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testenv: create cluster role %s: %v", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name + "-" + namespace + "-" + account},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: account}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testenv: bind cluster role %s: %v", role.Name, err)
	}
	c := k.ClientAs("system:serviceaccount:"+namespace+":"+account, "system:serviceaccounts", "system:serviceaccounts:"+namespace)
	WaitFor(t, 30*time.Second, role.Name+" in force", func() bool {
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, verb := range r.Verbs {
					review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
						ResourceAttributes: &authorizationv1.ResourceAttributes{
							Namespace: metav1.NamespaceDefault, Verb: verb, Group: r.APIGroups[0], Resource: resource, Subresource: sub,
						},
					}}
					got, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
					if err != nil || !got.Status.Allowed {
						return false
					}
				}
			}
		}
		return true
	})
	return c
}

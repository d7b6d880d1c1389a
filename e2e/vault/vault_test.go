package vault

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/internal/kubetest"
	"github.com/tazlab/mergeflect/internal/testcerts"
)

const (
	serviceAccount = "mergeflect-vault"
	timeout        = 30 * time.Second
	crtPath        = "tazlab-k8s/static/tls/wildcard/WILDCARD_CRT"
	keyPath        = "tazlab-k8s/static/tls/wildcard/WILDCARD_KEY"
)

// configure sets up what an operator sets up once: the Kubernetes auth method reviewing
// tokens against the test API server, and a policy that reads the wildcard certificate.
func (v *vaultServer) configure(ctx context.Context) error {
	err := v.root.Sys().EnableAuthWithOptionsWithContext(ctx, "kubernetes",
		&vaultapi.EnableAuthOptions{Type: "kubernetes"})
	if err != nil {
		return fmt.Errorf("enable kubernetes auth: %w", err)
	}
	_, err = v.root.Logical().WriteWithContext(ctx, "auth/kubernetes/config", map[string]any{
		"kubernetes_host":      cp.Host(),
		"kubernetes_ca_cert":   string(cp.CAData()),
		"disable_local_ca_jwt": true,
	})
	if err != nil {
		return fmt.Errorf("configure kubernetes auth: %w", err)
	}
	policy := `path "secret/data/tazlab-k8s/*" { capabilities = ["read"] }`
	if err := v.root.Sys().PutPolicyWithContext(ctx, "wildcard-read", policy); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	return nil
}

// role creates a Kubernetes auth role for the test ServiceAccount of namespace.
func (v *vaultServer) role(t *testing.T, name, namespace string, policies []string, ttl, maxTTL string) {
	t.Helper()
	_, err := v.root.Logical().WriteWithContext(t.Context(), "auth/kubernetes/role/"+name, map[string]any{
		"bound_service_account_names":      []string{serviceAccount},
		"bound_service_account_namespaces": []string{namespace},
		"token_policies":                   policies,
		"token_ttl":                        ttl,
		"token_max_ttl":                    maxTTL,
	})
	if err != nil {
		t.Fatalf("write role %s: %v", name, err)
	}
}

func (v *vaultServer) put(t *testing.T, path, value string) {
	t.Helper()
	if _, err := v.root.KVv2("secret").Put(t.Context(), path, map[string]any{"value": value}); err != nil {
		t.Fatalf("write secret/%s: %v", path, err)
	}
}

// version returns the current KV version 2 version of path.
func (v *vaultServer) version(t *testing.T, path string) int {
	t.Helper()
	secret, err := v.root.KVv2("secret").Get(t.Context(), path)
	if err != nil {
		t.Fatalf("read secret/%s: %v", path, err)
	}
	return secret.VersionMetadata.Version
}

var namespaces atomic.Int32

// namespace creates a namespace with the ServiceAccount mergeflect logs in as; the account
// may ask the API server to review tokens, as Vault does with it.
func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := t.Context()
	ns := fmt.Sprintf("%s-%d", prefix, namespaces.Add(1))
	create(t, func() error {
		_, err := admin.CoreV1().Namespaces().Create(ctx,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	})
	create(t, func() error {
		_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount}}, metav1.CreateOptions{})
		return err
	})
	create(t, func() error {
		_, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-auth-delegator"},
			RoleRef: rbacv1.RoleRef{
				APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator",
			},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: serviceAccount}},
		}, metav1.CreateOptions{})
		return err
	})
	return ns
}

func create(t *testing.T, fn func() error) {
	t.Helper()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
}

// vaultSource is the one object a user writes to get the TLS Secret from two Vault paths.
func vaultSource(t *testing.T, ns, name, target, role, refresh string, extra map[string]string) {
	t.Helper()
	a := map[string]string{
		annotations.Vault:     fmt.Sprintf("tls.crt=secret/%s#value, tls.key=secret/%s#value", crtPath, keyPath),
		annotations.Refresh:   refresh,
		annotations.VaultRole: role,
	}
	for k, v := range extra {
		a[k] = v
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, Annotations: a,
		Labels: map[string]string{annotations.MergeInto: target},
	}}
	if _, err := admin.CoreV1().Secrets(ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A source left behind would keep reading, and logging in, during the tests after it.
	t.Cleanup(func() {
		_ = admin.CoreV1().Secrets(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

func pair(t *testing.T) testcerts.Pair {
	t.Helper()
	p, err := testcerts.New("*.tazlab.example", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (v *vaultServer) putPair(t *testing.T, p testcerts.Pair) {
	t.Helper()
	v.put(t, crtPath, string(p.Cert))
	v.put(t, keyPath, string(p.Key))
}

func tlsData(p testcerts.Pair) map[string][]byte {
	return map[string][]byte{corev1.TLSCertKey: p.Cert, corev1.TLSPrivateKeyKey: p.Key}
}

// converged checks the target and its mirrors in namespaces all hold p.
func converged(ctx context.Context, ns string, mirrors []string, p testcerts.Pair) error {
	for _, n := range append([]string{ns}, mirrors...) {
		if err := kubetest.HasData(ctx, admin, n, "wildcard-tls", corev1.SecretTypeTLS, tlsData(p)); err != nil {
			return err
		}
	}
	return nil
}

// seed sets up the seed scenario read from Vault: one source Secret, five namespaces.
func seed(t *testing.T, refresh string) (ns string, mirrors []string, p testcerts.Pair) {
	t.Helper()
	ns = namespace(t, "vso-system")
	for _, n := range []string{"auth", "dex", "hugo-blog", "hugo-wiki", "ai-agents"} {
		mirror := ns + "-" + n
		create(t, func() error {
			_, err := admin.CoreV1().Namespaces().Create(t.Context(),
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: mirror}}, metav1.CreateOptions{})
			return err
		})
		mirrors = append(mirrors, mirror)
	}
	vs.role(t, ns, ns, []string{"wildcard-read"}, "1h", "24h")
	p = pair(t)
	vs.putPair(t, p)
	vaultSource(t, ns, "wildcard-vault", "wildcard-tls", ns, refresh,
		map[string]string{annotations.ReflectTo: ns + "-.*"})
	return ns, mirrors, p
}

func loginsSoFar(t *testing.T) float64 {
	t.Helper()
	v, err := metric(t.Context(), `mergeflect_vault_requests_total{operation="login",result="ok"}`)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSeedScenarioFromVault(t *testing.T) {
	ctx := t.Context()
	ns, mirrors, first := seed(t, "@every 2s")
	kubetest.Eventually(t, timeout, func() error { return converged(ctx, ns, mirrors, first) })
	kubetest.Eventually(t, timeout, func() error {
		return kubetest.HasEvent(ctx, admin, ns, "wildcard-vault", annotations.ReasonVaultSynced)
	})

	// A rotation written to Vault reaches every mirror within the refresh period.
	next := pair(t)
	vs.putPair(t, next)
	kubetest.Eventually(t, 2*time.Second+10*time.Second, func() error { return converged(ctx, ns, mirrors, next) })
	src, err := admin.CoreV1().Secrets(ns).Get(ctx, "wildcard-vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("tls.crt=%d,tls.key=%d", vs.version(t, crtPath), vs.version(t, keyPath))
	if got := src.Annotations[annotations.VaultVersions]; got != want {
		t.Errorf("source records versions %q, want %q", got, want)
	}

	// Refreshes that find the same versions write nothing.
	time.Sleep(5 * time.Second)
	again, err := admin.CoreV1().Secrets(ns).Get(ctx, "wildcard-vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != src.ResourceVersion {
		t.Errorf("unchanged Vault values rewrote the source: version %s, was %s",
			again.ResourceVersion, src.ResourceVersion)
	}
}

func TestKVVersion1(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t, "kv-one")
	if err := vs.root.Sys().MountWithContext(ctx, "kv1", &vaultapi.MountInput{
		Type: "kv", Options: map[string]string{"version": "1"},
	}); err != nil && !strings.Contains(err.Error(), "path is already in use") {
		t.Fatal(err)
	}
	if err := vs.root.Sys().PutPolicyWithContext(ctx, "kv1-read", `path "kv1/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	vs.role(t, ns, ns, []string{"kv1-read"}, "1h", "24h")
	if err := vs.root.KVv1("kv1").Put(ctx, "app/db", map[string]any{"password": "pw1"}); err != nil {
		t.Fatal(err)
	}

	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: "db-vault",
		Labels: map[string]string{annotations.MergeInto: "db"},
		Annotations: map[string]string{
			annotations.Vault: "password=kv1/app/db#password", annotations.VaultRole: ns,
			annotations.Refresh: "@hourly",
		},
	}}
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.CoreV1().Secrets(ns).Delete(context.Background(), s.Name, metav1.DeleteOptions{}) })
	want := map[string][]byte{"password": []byte("pw1")}
	kubetest.Eventually(t, timeout, func() error {
		return kubetest.HasData(ctx, admin, ns, "db", corev1.SecretTypeOpaque, want)
	})

	// A hand edit of the source is undone at once, not at the next hourly refresh.
	src, err := admin.CoreV1().Secrets(ns).Get(ctx, "db-vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src.Data["password"] = []byte("edited by hand")
	if _, err := admin.CoreV1().Secrets(ns).Update(ctx, src, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 10*time.Second, func() error {
		return kubetest.HasData(ctx, admin, ns, "db-vault", corev1.SecretTypeOpaque, want)
	})
}

func TestRoleWithoutPolicyIsDenied(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t, "no-policy")
	vs.role(t, ns, ns, []string{"default"}, "1h", "24h")
	vs.putPair(t, pair(t))
	vaultSource(t, ns, "wildcard-vault", "wildcard-tls", ns, "@every 2s", nil)

	kubetest.Eventually(t, timeout, func() error {
		return kubetest.HasEvent(ctx, admin, ns, "wildcard-vault", annotations.ReasonVaultDenied)
	})
	src, err := admin.CoreV1().Secrets(ns).Get(ctx, "wildcard-vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Data) != 0 {
		t.Errorf("a denied source holds keys: %d", len(src.Data))
	}
	if err := kubetest.IsAbsent(ctx, admin, ns, "wildcard-tls"); err != nil {
		t.Error(err)
	}
}

func TestFiftySourcesShareOneLogin(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t, "shared")
	vs.role(t, ns, ns, []string{"wildcard-read"}, "1h", "24h")
	p := pair(t)
	vs.putPair(t, p)
	before := loginsSoFar(t)

	for i := range 50 {
		vaultSource(t, ns, fmt.Sprintf("src-%02d", i), fmt.Sprintf("tls-%02d", i), ns, "@every 1s", nil)
	}
	for i := range 50 {
		kubetest.Eventually(t, timeout, func() error {
			return kubetest.HasData(ctx, admin, ns, fmt.Sprintf("tls-%02d", i), corev1.SecretTypeTLS, tlsData(p))
		})
	}
	time.Sleep(3 * time.Second) // a few refreshes of every source

	if logins := loginsSoFar(t) - before; logins != 1 {
		t.Errorf("50 sources of one identity logged in %v times, want once", logins)
	}
}

func TestExpiringTokenLogsInAgain(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t, "short-token")
	vs.role(t, ns, ns, []string{"wildcard-read"}, "2s", "4s")
	p := pair(t)
	vs.putPair(t, p)
	before := loginsSoFar(t)

	vaultSource(t, ns, "wildcard-vault", "wildcard-tls", ns, "@every 1s", nil)
	kubetest.Eventually(t, timeout, func() error {
		return kubetest.HasData(ctx, admin, ns, "wildcard-tls", corev1.SecretTypeTLS, tlsData(p))
	})

	// Past the token's maximum TTL, a rotation still arrives: mergeflect logged in again.
	time.Sleep(6 * time.Second)
	next := pair(t)
	vs.putPair(t, next)
	kubetest.Eventually(t, timeout, func() error {
		return kubetest.HasData(ctx, admin, ns, "wildcard-tls", corev1.SecretTypeTLS, tlsData(next))
	})
	if logins := loginsSoFar(t) - before; logins < 2 {
		t.Errorf("logged in %v times across an expired token, want at least 2", logins)
	}
}

// TestVaultOutage stops Vault, and must run last: the other tests share the server.
func TestVaultOutage(t *testing.T) {
	ctx := t.Context()
	ns, mirrors, p := seed(t, "@every 1s")
	kubetest.Eventually(t, timeout, func() error { return converged(ctx, ns, mirrors, p) })

	vs.stop()
	kubetest.Eventually(t, timeout, func() error {
		return kubetest.HasEvent(ctx, admin, ns, "wildcard-vault", annotations.ReasonVaultUnavailable)
	})
	kubetest.Consistently(t, 3*time.Second, func() error { return converged(ctx, ns, mirrors, p) })

	// Vault comes back empty, as a dev server does, and is set up again by its operator.
	restarted, err := startVault(ctx, t.TempDir(), vs.port)
	if err != nil {
		t.Fatal(err)
	}
	vs = restarted
	if err := vs.configure(ctx); err != nil {
		t.Fatal(err)
	}
	vs.role(t, ns, ns, []string{"wildcard-read"}, "1h", "24h")
	next := pair(t)
	vs.putPair(t, next)
	kubetest.Eventually(t, timeout, func() error { return converged(ctx, ns, mirrors, next) })
}

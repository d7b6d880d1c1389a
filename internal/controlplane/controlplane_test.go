package controlplane

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	testNamespace = "controlplane-test"
	testSecret    = "admin-kubeconfig"
	testAccount   = "reader"
)

func TestControlPlane(t *testing.T) {
	ctx := t.Context()

	began := time.Now()
	cp, err := Start(ctx, Options{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("control plane ready at %s after %s", cp.Host(), time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { _ = cp.Stop() })

	admin := newClient(t, cp.AdminConfig())
	kubeconfig := storeKubeconfig(ctx, t, cp, admin)
	checkKubectl(t, kubeconfig)

	token := serviceAccountToken(ctx, t, admin)
	checkServiceAccountIdentity(ctx, t, cp, token)
	checkRBAC(ctx, t, cp, admin, token)
	checkBadToken(ctx, t, cp)

	pids := []int{cp.etcd.cmd.Process.Pid, cp.apiserver.cmd.Process.Pid}
	began = time.Now()
	if err := cp.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("control plane stopped after %s", time.Since(began).Round(time.Millisecond))
	checkStopped(t, cp, pids)
}

// newClient builds a clientset, failing the test on error.
func newClient(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("build client: %v", err)
	}
	return client
}

// storeKubeconfig writes the admin kubeconfig, stores it in a Secret of a new
// namespace, and checks the copy read back. It returns the file's path.
func storeKubeconfig(
	ctx context.Context,
	t *testing.T,
	cp *ControlPlane,
	admin kubernetes.Interface,
) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(path); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read kubeconfig: %v", err)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: testSecret, Namespace: testNamespace},
		Data:       map[string][]byte{"kubeconfig": data},
	}
	_, err = admin.CoreV1().Secrets(testNamespace).Create(ctx, secret, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}

	// The stored copy must point at this server.
	got, err := admin.CoreV1().Secrets(testNamespace).Get(ctx, testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get secret: %v", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(got.Data["kubeconfig"])
	if err != nil {
		t.Fatalf("parse stored kubeconfig: %v", err)
	}
	if cfg.Host != cp.Host() {
		t.Errorf("stored kubeconfig server = %q, want %q", cfg.Host, cp.Host())
	}
	return path
}

// checkKubectl runs kubectl with the written kubeconfig, as a user would.
func checkKubectl(t *testing.T, kubeconfig string) {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatalf("find kubectl: %v", err)
	}
	kubectl := filepath.Join(bin, "kubectl")
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig,
		"get", "secret", testSecret, "-n", testNamespace, "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get secret: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "secret/"+testSecret; got != want {
		t.Errorf("kubectl printed %q, want %q", got, want)
	}
}

// serviceAccountToken creates a ServiceAccount and gets a token for it from
// the TokenRequest API.
func serviceAccountToken(ctx context.Context, t *testing.T, admin kubernetes.Interface) string {
	t.Helper()
	accounts := admin.CoreV1().ServiceAccounts(testNamespace)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: testAccount}}
	if _, err := accounts.Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}

	seconds := int64(600)
	req := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}
	resp, err := accounts.CreateToken(ctx, testAccount, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request token: %v", err)
	}
	if resp.Status.Token == "" {
		t.Fatal("token request returned an empty token")
	}
	return resp.Status.Token
}

// checkServiceAccountIdentity asks the API server who the token belongs to.
func checkServiceAccountIdentity(
	ctx context.Context,
	t *testing.T,
	cp *ControlPlane,
	token string,
) {
	t.Helper()
	client := newClient(t, cp.ConfigFor(token))
	review, err := client.AuthenticationV1().SelfSubjectReviews().
		Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review: %v", err)
	}

	want := "system:serviceaccount:" + testNamespace + ":" + testAccount
	if got := review.Status.UserInfo.Username; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}
}

// checkRBAC checks that the ServiceAccount may not read the Secret until a
// RoleBinding allows it, so the 403 comes from RBAC and nothing else.
func checkRBAC(
	ctx context.Context,
	t *testing.T,
	cp *ControlPlane,
	admin kubernetes.Interface,
	token string,
) {
	t.Helper()
	secrets := newClient(t, cp.ConfigFor(token)).CoreV1().Secrets(testNamespace)
	_, err := secrets.Get(ctx, testSecret, metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("get secret without a binding: err = %v, want 403 Forbidden", err)
	}

	grantSecretRead(ctx, t, admin)

	// The authorizer learns of new bindings through a watch, a moment later.
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true,
		func(ctx context.Context) (bool, error) {
			_, err := secrets.Get(ctx, testSecret, metav1.GetOptions{})
			if apierrors.IsForbidden(err) {
				return false, nil
			}
			return err == nil, err
		})
	if err != nil {
		t.Fatalf("get secret with a binding: %v", err)
	}
}

// grantSecretRead lets the test ServiceAccount read Secrets in its namespace.
func grantSecretRead(ctx context.Context, t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"secrets"},
			Verbs:     []string{"get"},
		}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Name: testAccount, Namespace: testNamespace,
		}},
	}

	rbac := admin.RbacV1()
	if _, err := rbac.Roles(testNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	_, err := rbac.RoleBindings(testNamespace).Create(ctx, binding, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create role binding: %v", err)
	}
}

// checkBadToken checks that an unknown token is rejected as unauthenticated.
func checkBadToken(ctx context.Context, t *testing.T, cp *ControlPlane) {
	t.Helper()
	client := newClient(t, cp.ConfigFor("not-a-token"))
	_, err := client.CoreV1().Namespaces().Get(ctx, testNamespace, metav1.GetOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("get namespace with a bad token: err = %v, want 401 Unauthorized", err)
	}
}

// checkStopped checks that Stop left no process and no temporary directory.
func checkStopped(t *testing.T, cp *ControlPlane, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d after stop: kill -0 = %v, want ESRCH", pid, err)
		}
	}
	if _, err := os.Stat(cp.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir %s after stop: stat = %v, want not exist", cp.dir, err)
	}

	client := newClient(t, cp.AdminConfig())
	_, err := client.Discovery().ServerVersion()
	if err == nil {
		t.Error("API server still answers after stop")
	}
}

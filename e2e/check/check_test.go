// Package check runs mergeflect check against a real API server, as a GitOps pipeline
// would before it applies a change, and checks what it prints, its exit status, and that it
// writes nothing.
package check

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/internal/kubetest"
	"github.com/tazlab/mergeflect/internal/testcerts"
	"github.com/tazlab/mergeflect/internal/testdaemon"
	"github.com/tazlab/mergeflect/internal/testenv"
)

var (
	admin      kubernetes.Interface
	bin        string
	kubeconfig string
	workDir    string
)

func TestMain(m *testing.M) {
	testenv.Main("e2e/check", func(_ context.Context, env *testenv.Env) (int, error) {
		admin, bin, kubeconfig, workDir = env.Admin, env.Bin, env.Kubeconfig, env.Dir
		return m.Run(), nil
	})
}

// check runs mergeflect check and returns what it printed and its exit code.
func check(t *testing.T) (string, int) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), bin, "check", "--kubeconfig", kubeconfig).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Logf("mergeflect check (exit 0):\n%s", out)
		return string(out), 0
	case errors.As(err, &exit):
		t.Logf("mergeflect check (exit %d):\n%s", exit.ExitCode(), out)
		return string(out), exit.ExitCode()
	}
	t.Fatalf("run mergeflect check: %v", err)
	return "", 0
}

func line(t *testing.T, out string, fields ...string) {
	t.Helper()
	for l := range strings.SplitSeq(out, "\n") {
		if strings.Join(strings.Fields(l), " ") != "" && containsAll(l, fields) {
			return
		}
	}
	t.Errorf("no line with %q in:\n%s", fields, out)
}

func containsAll(line string, fields []string) bool {
	got := strings.Fields(line)
	for _, f := range fields {
		found := false
		for _, g := range got {
			if g == f {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestCheck(t *testing.T) {
	ctx := t.Context()
	for _, ns := range []string{"vso-system", "auth", "dex"} {
		_, err := admin.CoreV1().Namespaces().Create(ctx,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	pair, err := testcerts.New("*.example.test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	source(t, "wildcard-crt", "value=tls.crt", pair.Cert)
	source(t, "wildcard-key", "value=tls.key", pair.Key)

	// A valid change: check lists what the daemon would write, exits 0 and writes nothing.
	out, code := check(t)
	if code != 0 {
		t.Fatalf("exit %d for a valid configuration:\n%s", code, out)
	}
	line(t, out, "create", "target", "vso-system/wildcard-tls")
	line(t, out, "create", "mirror", "auth/wildcard-tls")
	line(t, out, "create", "mirror", "dex/wildcard-tls")
	if err := kubetest.IsAbsent(ctx, admin, "vso-system", "wildcard-tls"); err != nil {
		t.Fatalf("check wrote: %v", err)
	}

	// Once the daemon has run, there is nothing left to do.
	converge(t)
	out, code = check(t)
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("exit %d after the daemon converged:\n%s", code, out)
	}

	// A bad annotation and a key that does not match its certificate fail the check.
	other, err := testcerts.New("*.example.test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	source(t, "broken", "value", []byte("x"))
	update(t, "wildcard-crt", other.Cert)
	out, code = check(t)
	if code != 1 {
		t.Fatalf("exit %d with problems, want 1:\n%s", code, out)
	}
	line(t, out, "problem", annotations.ReasonInvalidAnnotation, "vso-system/broken")
	line(t, out, "problem", annotations.ReasonKeyMismatch, "vso-system/wildcard-crt")
	if err := kubetest.HasData(ctx, admin, "auth", "wildcard-tls", corev1.SecretTypeTLS,
		map[string][]byte{corev1.TLSCertKey: pair.Cert, corev1.TLSPrivateKeyKey: pair.Key}); err != nil {
		t.Fatalf("check changed a mirror: %v", err)
	}
}

func source(t *testing.T, name, keys string, value []byte) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "vso-system", Name: name,
			Labels:      map[string]string{annotations.MergeInto: "wildcard-tls"},
			Annotations: map[string]string{annotations.Keys: keys, annotations.ReflectTo: "auth,dex"},
		},
		Data: map[string][]byte{"value": value},
	}
	if name == "broken" {
		s.Labels[annotations.MergeInto] = "broken-tls"
	}
	if _, err := admin.CoreV1().Secrets("vso-system").Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func update(t *testing.T, name string, value []byte) {
	t.Helper()
	s, err := admin.CoreV1().Secrets("vso-system").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data["value"] = value
	if _, err := admin.CoreV1().Secrets("vso-system").Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// converge runs the daemon until the target and its mirrors exist, then stops it.
func converge(t *testing.T) {
	t.Helper()
	d, err := testdaemon.Start(bin, kubeconfig, filepath.Join(workDir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	}()
	kubetest.Eventually(t, 30*time.Second, func() error {
		for _, ns := range []string{"vso-system", "auth", "dex"} {
			if _, err := admin.CoreV1().Secrets(ns).Get(t.Context(), "wildcard-tls", metav1.GetOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestNamespaceScope(t *testing.T) {
	ctx := t.Context()
	for _, ns := range []string{"scope-src", "scope-ignored", "scope-in", "scope-out"} {
		_, err := admin.CoreV1().Namespaces().Create(ctx,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	data := map[string][]byte{"token": []byte("abc")}
	for _, ns := range []string{"scope-src", "scope-ignored"} {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: "api-token",
				Labels:      map[string]string{annotations.MergeInto: "api"},
				Annotations: map[string]string{annotations.ReflectTo: "scope-(in|out)"},
			},
			Data: data,
		}
		if _, err := admin.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	d, err := testdaemon.Start(bin, kubeconfig, filepath.Join(workDir, "scope.log"),
		"--source-namespaces", "scope-src", "--reflect-namespaces", "scope-in")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	}()

	kubetest.Eventually(t, 30*time.Second, func() error {
		return kubetest.HasData(ctx, admin, "scope-in", "api", corev1.SecretTypeOpaque, data)
	})
	kubetest.Consistently(t, 2*time.Second, func() error {
		if err := kubetest.IsAbsent(ctx, admin, "scope-out", "api"); err != nil {
			return fmt.Errorf("a namespace outside --reflect-namespaces: %w", err)
		}
		if err := kubetest.IsAbsent(ctx, admin, "scope-ignored", "api"); err != nil {
			return fmt.Errorf("a namespace outside --source-namespaces: %w", err)
		}
		return nil
	})
}

package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/internal/kubetest"
	"github.com/tazlab/mergeflect/internal/testcerts"
)

var prefixes atomic.Int32

// prefix returns a namespace prefix no other test uses, so that tests run in parallel.
func prefix() string {
	return fmt.Sprintf("t%02d", prefixes.Add(1))
}

func createNamespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := admin.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// source describes a Secret written by VSO or by hand.
type source struct {
	ns, name    string
	target      string
	annotations map[string]string
	data        map[string][]byte
}

func createSource(t testing.TB, s source) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name, Annotations: s.annotations},
		Data:       s.data,
	}
	if s.target != "" {
		secret.Labels = map[string]string{annotations.MergeInto: s.target}
	}
	created, err := admin.CoreV1().Secrets(s.ns).Create(t.Context(), secret, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create secret %s/%s: %v", s.ns, s.name, err)
	}
	return created
}

// updateSecret reads a Secret, changes it with fn and writes it back, retrying conflicts.
func updateSecret(t testing.TB, ns, name string, fn func(*corev1.Secret)) {
	t.Helper()
	for range 10 {
		s, err := admin.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get secret %s/%s: %v", ns, name, err)
		}
		fn(s)
		_, err = admin.CoreV1().Secrets(ns).Update(t.Context(), s, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("update secret %s/%s: %v", ns, name, err)
		}
	}
	t.Fatalf("update secret %s/%s: too many conflicts", ns, name)
}

func setData(key string, value []byte) func(*corev1.Secret) {
	return func(s *corev1.Secret) { s.Data = map[string][]byte{key: value} }
}

func deleteSecret(t testing.TB, ns, name string) {
	t.Helper()
	if err := admin.CoreV1().Secrets(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete secret %s/%s: %v", ns, name, err)
	}
}

func getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return admin.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	kubetest.Eventually(t, timeout, check)
}

func consistently(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	kubetest.Consistently(t, d, check)
}

func hasData(ctx context.Context, ns, name string, secretType corev1.SecretType, data map[string][]byte) error {
	return kubetest.HasData(ctx, admin, ns, name, secretType, data)
}

func isAbsent(ctx context.Context, ns, name string) error {
	return kubetest.IsAbsent(ctx, admin, ns, name)
}

func hasEvent(ctx context.Context, ns, name, reason string) error {
	return kubetest.HasEvent(ctx, admin, ns, name, reason)
}

func noEvent(ctx context.Context, ns, name, reason string) error {
	if hasEvent(ctx, ns, name, reason) == nil {
		return fmt.Errorf("unexpected %s Event on %s/%s", reason, ns, name)
	}
	return nil
}

func tlsData(p testcerts.Pair) map[string][]byte {
	return map[string][]byte{corev1.TLSCertKey: p.Cert, corev1.TLSPrivateKeyKey: p.Key}
}

func newPair(t testing.TB, name string) testcerts.Pair {
	t.Helper()
	p, err := testcerts.New(name, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

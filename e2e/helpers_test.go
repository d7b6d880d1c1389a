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
	"k8s.io/apimachinery/pkg/fields"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/internal/testcerts"
	"github.com/tazlab/mergeflect/merger"
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

// eventually polls check until it returns nil, failing the test with its last error after
// timeout.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consistently checks every 100 ms for d that check keeps returning nil.
func consistently(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if err := check(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hasData checks that the Secret ns/name exists with exactly data and the given type.
func hasData(ctx context.Context, ns, name string, secretType corev1.SecretType, data map[string][]byte) error {
	s, err := getSecret(ctx, ns, name)
	if err != nil {
		return err
	}
	if s.Type != secretType {
		return fmt.Errorf("%s/%s has type %s, want %s", ns, name, s.Type, secretType)
	}
	if merger.Hash(s.Type, s.Data) != merger.Hash(secretType, data) {
		return fmt.Errorf("%s/%s holds keys %v with content %s, want keys of content %s",
			ns, name, keysOf(s.Data), merger.Hash(s.Type, s.Data), merger.Hash(secretType, data))
	}
	return nil
}

func isAbsent(ctx context.Context, ns, name string) error {
	_, err := getSecret(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("secret %s/%s exists", ns, name)
}

// hasEvent checks that an Event of reason was recorded on the Secret ns/name.
func hasEvent(ctx context.Context, ns, name, reason string) error {
	list, err := admin.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": name, "involvedObject.kind": "Secret"}.String(),
	})
	if err != nil {
		return err
	}
	var seen []string
	for _, e := range list.Items {
		if e.Reason == reason {
			return nil
		}
		seen = append(seen, e.Reason)
	}
	return fmt.Errorf("no %s Event on %s/%s; saw %v", reason, ns, name, seen)
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

func keysOf(data map[string][]byte) []string {
	var keys []string
	for k := range data {
		keys = append(keys, k)
	}
	return keys
}

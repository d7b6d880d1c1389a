package deploy

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/internal/kubetest"
	"github.com/tazlab/mergeflect/internal/testcerts"
)

const (
	// timeout bounds every wait for mergeflect to act.
	timeout = 30 * time.Second
	// target is the Secret the scenario's sources merge into.
	target = "wildcard-tls"
)

// scenario is the wildcard certificate as Vault Secrets Operator writes it: two single-key
// Secrets, merged into a TLS target reflected into the namespaces of a pattern.
type scenario struct {
	source     string
	mirrors    []string
	other      string
	namespaces []string
	pair       testcerts.Pair
}

func seed(t *testing.T, prefix string) *scenario {
	t.Helper()
	pair, err := testcerts.New("*.example.test", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{
		source:  prefix + "-vso",
		mirrors: []string{prefix + "-auth", prefix + "-hugo-blog"},
		other:   prefix + "-other",
		pair:    pair,
	}
	s.namespaces = append([]string{s.source, s.other}, s.mirrors...)
	for _, ns := range s.namespaces {
		ensureNamespace(t, ns)
	}

	reflectTo := fmt.Sprintf("%s-auth, %s-hugo-.*", prefix, prefix)
	s.createSource(t, "wildcard-crt", corev1.TLSCertKey, pair.Cert, reflectTo)
	s.createSource(t, "wildcard-key", corev1.TLSPrivateKeyKey, pair.Key, reflectTo)
	return s
}

// createSource creates a single-key source whose value becomes the target's key.
func (s *scenario) createSource(t *testing.T, name, key string, value []byte, reflectTo string) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.source,
			Name:      name,
			Labels:    map[string]string{annotations.MergeInto: target},
			Annotations: map[string]string{
				annotations.Keys:      "value=" + key,
				annotations.ReflectTo: reflectTo,
			},
		},
		Data: map[string][]byte{"value": value},
	}
	_, err := admin.CoreV1().Secrets(s.source).Create(t.Context(), secret, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create source %s/%s: %v", s.source, name, err)
	}
}

// published checks that the target and every mirror hold the pair as a TLS Secret.
func (s *scenario) published(ctx context.Context) error {
	want := map[string][]byte{corev1.TLSCertKey: s.pair.Cert, corev1.TLSPrivateKeyKey: s.pair.Key}
	for _, ns := range append([]string{s.source}, s.mirrors...) {
		if err := kubetest.HasData(ctx, admin, ns, target, corev1.SecretTypeTLS, want); err != nil {
			return err
		}
	}
	return nil
}

// rotate writes a new certificate and key into the sources.
func (s *scenario) rotate(t *testing.T) {
	t.Helper()
	pair, err := testcerts.New("*.example.test", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.pair = pair
	updateSource(t, s.source, "wildcard-crt", func(o *corev1.Secret) { o.Data["value"] = pair.Cert })
	updateSource(t, s.source, "wildcard-key", func(o *corev1.Secret) { o.Data["value"] = pair.Key })
}

// narrow leaves the first mirror namespace as the only one the sources reflect to, and
// returns the other one, whose mirror should go.
func (s *scenario) narrow(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"wildcard-crt", "wildcard-key"} {
		updateSource(t, s.source, name, func(o *corev1.Secret) {
			o.Annotations[annotations.ReflectTo] = s.mirrors[0]
		})
	}
	dropped := s.mirrors[1]
	s.mirrors = s.mirrors[:1]
	return dropped
}

// remove deletes every Secret of the scenario, once its daemon has stopped, so that the
// daemon of a later run finds nothing of it to work on.
func (s *scenario) remove(t *testing.T) {
	t.Helper()
	// A cleanup runs after the test's context has ended.
	ctx := context.Background()
	for _, ns := range s.namespaces {
		err := admin.CoreV1().Secrets(ns).DeleteCollection(ctx, metav1.DeleteOptions{},
			metav1.ListOptions{})
		if err != nil {
			t.Errorf("delete the secrets of namespace %s: %v", ns, err)
		}
	}
}

func updateSource(t *testing.T, ns, name string, change func(*corev1.Secret)) {
	t.Helper()
	secrets := admin.CoreV1().Secrets(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := secrets.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(s)
		_, err = secrets.Update(t.Context(), s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update source %s/%s: %v", ns, name, err)
	}
}

func isAbsent(ctx context.Context, ns, name string) error {
	return kubetest.IsAbsent(ctx, admin, ns, name)
}

func hasMergedEvent(ctx context.Context, ns string) error {
	return kubetest.HasEvent(ctx, admin, ns, target, annotations.ReasonMerged)
}

func eventually(t *testing.T, check func() error) {
	t.Helper()
	kubetest.Eventually(t, timeout, check)
}

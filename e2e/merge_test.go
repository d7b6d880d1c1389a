package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/internal/testcerts"
	"github.com/tazlab/mergeflect/merger"
)

const timeout = 20 * time.Second

// seed sets up the wildcard certificate as VSO would write it: two single-key Secrets in
// one namespace, merged into a TLS target reflected into auth, dex and hugo-.* namespaces.
type seed struct {
	prefix, ns string
	pair       testcerts.Pair
	mirrors    []string
}

func newSeed(t *testing.T) *seed {
	t.Helper()
	p := prefix()
	s := &seed{prefix: p, ns: p + "-vso-system", pair: newPair(t, "*.example.test")}
	createNamespace(t, s.ns, nil)
	for _, n := range []string{"auth", "dex", "hugo-blog", "hugo-wiki", "other"} {
		createNamespace(t, p+"-"+n, nil)
	}
	s.mirrors = []string{p + "-auth", p + "-dex", p + "-hugo-blog", p + "-hugo-wiki"}

	reflectTo := fmt.Sprintf("%s-auth, %s-dex, %s-hugo-.*", p, p, p)
	createSource(t, source{
		ns: s.ns, name: "wildcard-crt", target: "wildcard-tls",
		annotations: map[string]string{annotations.Keys: "value=tls.crt", annotations.ReflectTo: reflectTo},
		data:        map[string][]byte{"value": s.pair.Cert},
	})
	createSource(t, source{
		ns: s.ns, name: "wildcard-key", target: "wildcard-tls",
		annotations: map[string]string{annotations.Keys: "value = tls.key", annotations.ReflectTo: reflectTo},
		data:        map[string][]byte{"value": s.pair.Key},
	})
	return s
}

// converged checks that the target and every mirror hold pair.
func (s *seed) converged(ctx context.Context, pair testcerts.Pair) error {
	for _, ns := range append([]string{s.ns}, s.mirrors...) {
		if err := hasData(ctx, ns, "wildcard-tls", corev1.SecretTypeTLS, tlsData(pair)); err != nil {
			return err
		}
	}
	return nil
}

func TestSeedScenario(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed(t)

	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	target, err := getSecret(ctx, s.ns, "wildcard-tls")
	if err != nil {
		t.Fatal(err)
	}
	if got := target.Labels[annotations.ManagedBy]; got != annotations.ManagedByValue {
		t.Errorf("target label %s = %q", annotations.ManagedBy, got)
	}
	if got := target.Annotations[annotations.Sources]; got != "wildcard-crt,wildcard-key" {
		t.Errorf("target sources annotation = %q", got)
	}
	if got, want := target.Annotations[annotations.ContentHash], merger.Hash(target.Type, target.Data); got != want {
		t.Errorf("target content hash = %q, want %q", got, want)
	}

	mirror, err := getSecret(ctx, s.mirrors[0], "wildcard-tls")
	if err != nil {
		t.Fatal(err)
	}
	if got := mirror.Annotations[annotations.ReflectedFrom]; got != s.ns+"/wildcard-tls" {
		t.Errorf("mirror reflected-from = %q", got)
	}
	if err := isAbsent(ctx, s.prefix+"-other", "wildcard-tls"); err != nil {
		t.Errorf("namespace that matches no pattern: %v", err)
	}

	// A namespace created later receives its copy too.
	createNamespace(t, s.prefix+"-hugo-docs", nil)
	eventually(t, timeout, func() error {
		return hasData(ctx, s.prefix+"-hugo-docs", "wildcard-tls", corev1.SecretTypeTLS, tlsData(s.pair))
	})
	eventually(t, timeout, func() error { return hasEvent(ctx, s.ns, "wildcard-tls", annotations.ReasonMerged) })
	eventually(t, timeout, func() error { return hasEvent(ctx, s.ns, "wildcard-tls", annotations.ReasonReflected) })
}

func TestRotation(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"certificate first", "key first"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := newSeed(t)
			eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

			// Every version of the target or a mirror seen during the rotation must hold a
			// certificate and the key that matches it.
			watched := watchTLS(t, s)
			next := newPair(t, "*.example.test")
			first, second := "wildcard-crt", "wildcard-key"
			firstValue, secondValue := next.Cert, next.Key
			if order == "key first" {
				first, second, firstValue, secondValue = second, first, secondValue, firstValue
			}
			updateSecret(t, s.ns, first, setData("value", firstValue))
			time.Sleep(500 * time.Millisecond)
			updateSecret(t, s.ns, second, setData("value", secondValue))

			eventually(t, timeout, func() error { return s.converged(ctx, next) })
			if err := watched(); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"wildcard-crt", "wildcard-key"} {
				if err := noEvent(ctx, s.ns, name, annotations.ReasonKeyMismatch); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// watchTLS watches the seed's target and mirrors and returns a function that stops the
// watch and reports the first version seen whose key does not match its certificate.
func watchTLS(t *testing.T, s *seed) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var bad error
	var wg sync.WaitGroup

	for _, ns := range append([]string{s.ns}, s.mirrors...) {
		w, err := admin.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{
			FieldSelector: "metadata.name=wildcard-tls",
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-w.ResultChan():
					sec, ok := ev.Object.(*corev1.Secret)
					if !ok || ev.Type == watch.Deleted {
						continue
					}
					_, err := merger.ValidateTLS(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
					mu.Lock()
					if err != nil && bad == nil {
						bad = fmt.Errorf("%s/%s was published invalid at version %s: %w",
							sec.Namespace, sec.Name, sec.ResourceVersion, err)
					}
					mu.Unlock()
				}
			}
		})
	}

	return func() error {
		time.Sleep(200 * time.Millisecond)
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return bad
	}
}

func TestMismatchThatLastsIsReported(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed(t)
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	// Only the certificate rotates; the key never follows.
	next := newPair(t, "*.example.test")
	updateSecret(t, s.ns, "wildcard-crt", setData("value", next.Cert))

	eventually(t, timeout, func() error { return hasEvent(ctx, s.ns, "wildcard-crt", annotations.ReasonKeyMismatch) })
	eventually(t, timeout, func() error { return hasEvent(ctx, s.ns, "wildcard-key", annotations.ReasonKeyMismatch) })
	if err := s.converged(ctx, s.pair); err != nil {
		t.Fatalf("last good version not kept: %v", err)
	}
	if err := metricAtLeast(ctx, `mergeflect_errors_total{reason="KeyMismatch"}`, 1); err != nil {
		t.Error(err)
	}

	// The key follows at last: the new pair is published.
	updateSecret(t, s.ns, "wildcard-key", setData("value", next.Key))
	eventually(t, timeout, func() error { return s.converged(ctx, next) })
}

func TestInvalidCertificateIsNeverPublished(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed(t)
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	updateSecret(t, s.ns, "wildcard-crt", setData("value", []byte("not a certificate")))
	eventually(t, timeout, func() error {
		return hasEvent(ctx, s.ns, "wildcard-crt", annotations.ReasonInvalidCertificate)
	})
	consistently(t, time.Second, func() error { return s.converged(ctx, s.pair) })
}

func TestMissingSibling(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := prefix()
	ns := p + "-vso-system"
	createNamespace(t, ns, nil)
	pair := newPair(t, "half.example.test")

	// Only the certificate exists: nothing is published, and after the grace period the
	// absence of the key is reported.
	createSource(t, source{
		ns: ns, name: "crt", target: "half-tls",
		annotations: map[string]string{annotations.Keys: "value=tls.crt"},
		data:        map[string][]byte{"value": pair.Cert},
	})
	eventually(t, timeout, func() error { return hasEvent(ctx, ns, "crt", annotations.ReasonMissingSource) })
	if err := isAbsent(ctx, ns, "half-tls"); err != nil {
		t.Fatal(err)
	}

	createSource(t, source{
		ns: ns, name: "key", target: "half-tls",
		annotations: map[string]string{annotations.Keys: "value=tls.key"},
		data:        map[string][]byte{"value": pair.Key},
	})
	eventually(t, timeout, func() error { return hasData(ctx, ns, "half-tls", corev1.SecretTypeTLS, tlsData(pair)) })
}

func TestSourcesDeletedKeepLastGood(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed(t)
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	deleteSecret(t, s.ns, "wildcard-key")
	eventually(t, timeout, func() error { return hasEvent(ctx, s.ns, "wildcard-crt", annotations.ReasonMissingSource) })
	if err := s.converged(ctx, s.pair); err != nil {
		t.Fatalf("one source deleted: %v", err)
	}

	deleteSecret(t, s.ns, "wildcard-crt")
	eventually(t, timeout, func() error { return hasEvent(ctx, s.ns, "wildcard-tls", annotations.ReasonMissingSource) })
	consistently(t, time.Second, func() error { return s.converged(ctx, s.pair) })
}

func TestDeletedTargetIsRecreated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed(t)
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	deleteSecret(t, s.ns, "wildcard-tls")
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	// An edit of the target is undone as well.
	updateSecret(t, s.ns, "wildcard-tls", func(sec *corev1.Secret) { sec.Data[corev1.TLSCertKey] = []byte("edited") })
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })
}

func TestSettingsMustAgree(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ns := prefix() + "-apps"
	createNamespace(t, ns, nil)
	user := map[string][]byte{"username": []byte("app")}

	createSource(t, source{
		ns: ns, name: "db-user", target: "db",
		annotations: map[string]string{annotations.Type: "Opaque"}, data: user,
	})
	eventually(t, timeout, func() error { return hasData(ctx, ns, "db", corev1.SecretTypeOpaque, user) })

	// A sibling that disagrees on the type stops every write; the last good version stays.
	createSource(t, source{
		ns: ns, name: "db-pass", target: "db",
		annotations: map[string]string{annotations.Type: "kubernetes.io/basic-auth"},
		data:        map[string][]byte{"password": []byte("s3cr3t")},
	})
	eventually(t, timeout, func() error { return hasEvent(ctx, ns, "db-pass", annotations.ReasonConflict) })
	consistently(t, time.Second, func() error { return hasData(ctx, ns, "db", corev1.SecretTypeOpaque, user) })

	// Once they agree, the merge of both keys is published.
	updateSecret(t, ns, "db-pass", func(s *corev1.Secret) { s.Annotations[annotations.Type] = "Opaque" })
	eventually(t, timeout, func() error {
		return hasData(ctx, ns, "db", corev1.SecretTypeOpaque,
			map[string][]byte{"username": []byte("app"), "password": []byte("s3cr3t")})
	})
}

func TestInvalidAnnotationIsReported(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ns := prefix() + "-apps"
	createNamespace(t, ns, nil)

	createSource(t, source{
		ns: ns, name: "bad", target: "bad-target",
		annotations: map[string]string{annotations.Keys: "value"},
		data:        map[string][]byte{"value": []byte("x")},
	})
	eventually(t, timeout, func() error { return hasEvent(ctx, ns, "bad", annotations.ReasonInvalidAnnotation) })
	if err := isAbsent(ctx, ns, "bad-target"); err != nil {
		t.Fatal(err)
	}
}

func TestTypeChangeKeepsLastGoodUntilAccepted(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ns := prefix() + "-apps"
	createNamespace(t, ns, nil)
	token := map[string][]byte{"token": []byte("abc")}

	createSource(t, source{ns: ns, name: "creds", target: "login", data: token})
	eventually(t, timeout, func() error { return hasData(ctx, ns, "login", corev1.SecretTypeOpaque, token) })

	// basic-auth needs a username or password key: the API server refuses the replacement,
	// and the Opaque version stays.
	updateSecret(t, ns, "creds", func(s *corev1.Secret) {
		s.Annotations = map[string]string{annotations.Type: string(corev1.SecretTypeBasicAuth)}
	})
	eventually(t, timeout, func() error { return hasEvent(ctx, ns, "creds", annotations.ReasonWriteFailed) })
	consistently(t, time.Second, func() error { return hasData(ctx, ns, "login", corev1.SecretTypeOpaque, token) })

	// With the keys the type needs, the target is replaced by one of the new type.
	auth := map[string][]byte{"username": []byte("app"), "password": []byte("pw")}
	updateSecret(t, ns, "creds", func(s *corev1.Secret) { s.Data = auth })
	eventually(t, timeout, func() error { return hasData(ctx, ns, "login", corev1.SecretTypeBasicAuth, auth) })
}

func TestFlappingSourceDoesNotFloodEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ns := prefix() + "-apps"
	createNamespace(t, ns, nil)
	createSource(t, source{ns: ns, name: "flap", target: "flapping", data: map[string][]byte{"v": []byte("0")}})

	// Sixty changes in a row, each of them merged and written.
	for i := 1; i <= 60; i++ {
		value := fmt.Appendf(nil, "%d", i)
		updateSecret(t, ns, "flap", setData("v", value))
		eventually(t, timeout, func() error {
			return hasData(ctx, ns, "flapping", corev1.SecretTypeOpaque, map[string][]byte{"v": value})
		})
	}

	// What reaches the API server is one Event counting repeats, within the per-object burst.
	time.Sleep(time.Second)
	list, err := admin.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.name=flapping",
	})
	if err != nil {
		t.Fatal(err)
	}
	total := int32(0)
	for _, e := range list.Items {
		total += e.Count
	}
	if len(list.Items) > 2 || total > 30 {
		t.Errorf("60 merges left %d Event objects counting %d; want at most 2 objects and 30 in all",
			len(list.Items), total)
	}
	t.Logf("60 merges: %d Event objects, counting %d", len(list.Items), total)
}

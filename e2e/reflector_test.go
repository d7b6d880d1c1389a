package e2e

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tazlab/mergeflect/annotations"
)

// These tests use Reflector's own annotations, unchanged, so that a user can drop Reflector.

func TestReflectorAutoReflection(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := prefix()
	ns := p + "-eso"
	for _, n := range []string{ns, p + "-auth", p + "-dex", p + "-blocked"} {
		createNamespace(t, n, nil)
	}
	pair := newPair(t, "reflected.example.test")

	createSource(t, source{ns: ns, name: "wildcard-tls", annotations: map[string]string{
		annotations.ReflectorAllowed:           "true",
		annotations.ReflectorAllowedNamespaces: p + "-auth," + p + "-dex",
		annotations.ReflectorAutoEnabled:       "true",
		annotations.ReflectorAutoNamespaces:    p + "-.*",
	}, data: tlsData(pair)})

	for _, n := range []string{p + "-auth", p + "-dex"} {
		eventually(t, timeout, func() error {
			return hasData(ctx, n, "wildcard-tls", corev1.SecretTypeOpaque, tlsData(pair))
		})
	}
	if err := isAbsent(ctx, p+"-blocked", "wildcard-tls"); err != nil {
		t.Fatalf("namespace outside reflection-allowed-namespaces: %v", err)
	}

	// An update of the source reaches the mirrors.
	next := newPair(t, "reflected.example.test")
	updateSecret(t, ns, "wildcard-tls", func(s *corev1.Secret) { s.Data = tlsData(next) })
	eventually(t, timeout, func() error {
		return hasData(ctx, p+"-dex", "wildcard-tls", corev1.SecretTypeOpaque, tlsData(next))
	})

	// Deleting the source deletes the mirrors it created, as Reflector does.
	deleteSecret(t, ns, "wildcard-tls")
	for _, n := range []string{p + "-auth", p + "-dex"} {
		eventually(t, timeout, func() error { return isAbsent(ctx, n, "wildcard-tls") })
	}
}

func TestReflectorPull(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := prefix()
	ns, allowed, denied := p+"-src", p+"-allowed", p+"-denied"
	for _, n := range []string{ns, allowed, denied} {
		createNamespace(t, n, nil)
	}
	data := map[string][]byte{"password": []byte("from-source")}
	placeholder := map[string][]byte{"password": []byte("placeholder")}

	createSource(t, source{ns: ns, name: "db", annotations: map[string]string{
		annotations.ReflectorAllowed:           "true",
		annotations.ReflectorAllowedNamespaces: allowed,
	}, data: data})
	for _, n := range []string{allowed, denied} {
		createSource(t, source{
			ns: n, name: "db-copy",
			annotations: map[string]string{annotations.ReflectorReflects: ns + "/db"}, data: placeholder,
		})
	}

	eventually(t, timeout, func() error { return hasData(ctx, allowed, "db-copy", corev1.SecretTypeOpaque, data) })
	eventually(t, timeout, func() error { return hasEvent(ctx, denied, "db-copy", annotations.ReasonInvalidAnnotation) })
	if err := hasData(ctx, denied, "db-copy", corev1.SecretTypeOpaque, placeholder); err != nil {
		t.Fatalf("namespace the source does not allow: %v", err)
	}

	// The copy follows the source.
	next := map[string][]byte{"password": []byte("rotated")}
	updateSecret(t, ns, "db", func(s *corev1.Secret) { s.Data = next })
	eventually(t, timeout, func() error { return hasData(ctx, allowed, "db-copy", corev1.SecretTypeOpaque, next) })
}

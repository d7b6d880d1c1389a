package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tazlab/mergeflect/annotations"
)

func TestMirrorsAreRepaired(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed(t)
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	// An edited mirror is restored.
	updateSecret(t, s.mirrors[0], "wildcard-tls", func(sec *corev1.Secret) {
		sec.Data[corev1.TLSPrivateKeyKey] = []byte("edited by hand")
	})
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })

	// A deleted mirror is recreated.
	deleteSecret(t, s.mirrors[1], "wildcard-tls")
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })
}

func TestSelectorAndNamespaceLabels(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := prefix()
	ns := p + "-vso-system"
	createNamespace(t, ns, nil)
	createNamespace(t, p+"-web", map[string]string{"tier": "web"})
	createNamespace(t, p+"-batch", map[string]string{"tier": "batch"})
	data := map[string][]byte{"token": []byte("abc")}

	createSource(t, source{
		ns: ns, name: "api-token", target: "api",
		annotations: map[string]string{annotations.ReflectToSelector: "tier=web"}, data: data,
	})
	eventually(t, timeout, func() error { return hasData(ctx, p+"-web", "api", corev1.SecretTypeOpaque, data) })
	if err := isAbsent(ctx, p+"-batch", "api"); err != nil {
		t.Fatal(err)
	}

	// Namespaces that gain the label get a copy; those that lose it lose theirs.
	relabel(t, p+"-batch", "web")
	relabel(t, p+"-web", "batch")
	eventually(t, timeout, func() error { return hasData(ctx, p+"-batch", "api", corev1.SecretTypeOpaque, data) })
	eventually(t, timeout, func() error { return isAbsent(ctx, p+"-web", "api") })

	// A source that loses its reflection settings loses its mirrors.
	updateSecret(t, ns, "api-token", func(s *corev1.Secret) { delete(s.Annotations, annotations.ReflectToSelector) })
	eventually(t, timeout, func() error { return isAbsent(ctx, p+"-batch", "api") })
	if err := hasData(ctx, ns, "api", corev1.SecretTypeOpaque, data); err != nil {
		t.Fatal(err)
	}
}

func relabel(t *testing.T, name, tier string) {
	t.Helper()
	ns, err := admin.CoreV1().Namespaces().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["tier"] = tier
	if _, err := admin.CoreV1().Namespaces().Update(t.Context(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestUnmanagedSecretsAreNeverTouched(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := prefix()
	ns, other := p+"-vso-system", p+"-team"
	createNamespace(t, ns, nil)
	createNamespace(t, other, nil)
	theirs := map[string][]byte{"mine": []byte("do not touch")}

	// A Secret the team wrote holds the target's name in the source namespace, and another
	// holds the mirror's name in their namespace.
	createSource(t, source{ns: ns, name: "shared", data: theirs})
	createSource(t, source{ns: other, name: "copied", data: theirs})
	createSource(t, source{ns: ns, name: "src-a", target: "shared", data: map[string][]byte{"a": []byte("1")}})
	createSource(t, source{
		ns: ns, name: "src-b", target: "copied",
		annotations: map[string]string{annotations.ReflectTo: other},
		data:        map[string][]byte{"b": []byte("2")},
	})

	eventually(t, timeout, func() error { return hasEvent(ctx, ns, "src-a", annotations.ReasonConflict) })
	eventually(t, timeout, func() error { return hasEvent(ctx, ns, "copied", annotations.ReasonConflict) })
	consistently(t, time.Second, func() error {
		if err := hasData(ctx, ns, "shared", corev1.SecretTypeOpaque, theirs); err != nil {
			return err
		}
		return hasData(ctx, other, "copied", corev1.SecretTypeOpaque, theirs)
	})
	for _, key := range [][2]string{{ns, "shared"}, {other, "copied"}} {
		s, err := getSecret(ctx, key[0], key[1])
		if err != nil {
			t.Fatal(err)
		}
		if s.Labels[annotations.ManagedBy] != "" || len(s.Annotations) != 0 {
			t.Errorf("%s/%s was changed: labels %v, annotations %v", key[0], key[1], s.Labels, s.Annotations)
		}
	}

	// Once the team deletes their Secrets, the names are free and mergeflect takes them.
	deleteSecret(t, ns, "shared")
	deleteSecret(t, other, "copied")
	eventually(t, timeout, func() error {
		return hasData(ctx, ns, "shared", corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1")})
	})
	eventually(t, timeout, func() error {
		return hasData(ctx, other, "copied", corev1.SecretTypeOpaque, map[string][]byte{"b": []byte("2")})
	})
}

func TestTwoSourcesOneMirrorName(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := prefix()
	first, second, dest := p+"-one", p+"-two", p+"-dest"
	for _, ns := range []string{first, second, dest} {
		createNamespace(t, ns, nil)
	}
	one := map[string][]byte{"from": []byte("one")}
	two := map[string][]byte{"from": []byte("two")}

	createSource(t, source{
		ns: first, name: "src", target: "config",
		annotations: map[string]string{annotations.ReflectTo: dest}, data: one,
	})
	eventually(t, timeout, func() error { return hasData(ctx, dest, "config", corev1.SecretTypeOpaque, one) })
	mirror, err := getSecret(ctx, dest, "config")
	if err != nil {
		t.Fatal(err)
	}

	// The second source asks for the same name: the first keeps it, without flip-flopping.
	createSource(t, source{
		ns: second, name: "src", target: "config",
		annotations: map[string]string{annotations.ReflectTo: dest}, data: two,
	})
	eventually(t, timeout, func() error { return hasEvent(ctx, second, "config", annotations.ReasonConflict) })
	consistently(t, 2*time.Second, func() error {
		now, err := getSecret(ctx, dest, "config")
		if err != nil {
			return err
		}
		if now.ResourceVersion != mirror.ResourceVersion {
			return fmt.Errorf("mirror rewritten: version %s, was %s; reflected from %s",
				now.ResourceVersion, mirror.ResourceVersion, now.Annotations[annotations.ReflectedFrom])
		}
		return nil
	})
}

func TestNoWriteWithoutChange(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed(t)
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })
	before := versions(t, s)

	// A metadata-only touch of a source, and a rewrite of the same data, change nothing.
	updateSecret(t, s.ns, "wildcard-crt", func(sec *corev1.Secret) { sec.Annotations["touched"] = "yes" })
	updateSecret(t, s.ns, "wildcard-key", setData("value", s.pair.Key))
	consistently(t, 2*time.Second, func() error {
		after := versionsNow(ctx, s)
		for k, v := range before {
			if after[k] != v {
				return fmt.Errorf("%s was written: version %s, was %s", k, after[k], v)
			}
		}
		return nil
	})
}

func versions(t *testing.T, s *seed) map[string]string {
	t.Helper()
	v := versionsNow(t.Context(), s)
	if len(v) != len(s.mirrors)+1 {
		t.Fatalf("found %d of %d Secrets", len(v), len(s.mirrors)+1)
	}
	return v
}

func versionsNow(ctx context.Context, s *seed) map[string]string {
	v := map[string]string{}
	for _, ns := range append([]string{s.ns}, s.mirrors...) {
		if sec, err := getSecret(ctx, ns, "wildcard-tls"); err == nil {
			v[ns] = sec.ResourceVersion
		}
	}
	return v
}

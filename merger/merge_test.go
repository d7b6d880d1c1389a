package merger

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tazlab/mergeflect/annotations"
)

// wildcard is the target of the sources built by sibling.
var wildcard = types.NamespacedName{Namespace: "vso-system", Name: "wildcard-tls"}

// sibling returns a source of wildcard holding data, annotated with key, value pairs.
func sibling(name string, data map[string][]byte, kv ...string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   wildcard.Namespace,
			Name:        name,
			Labels:      map[string]string{annotations.MergeInto: wildcard.Name},
			Annotations: map[string]string{},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Annotations[kv[i]] = kv[i+1]
	}
	return s
}

// value is the data of a Secret written from one Vault path, as in the seed scenario.
func value(v []byte) map[string][]byte { return map[string][]byte{"value": v} }

// pems holds the two generations of the wildcard pair of a rotation, and a CA bundle.
type pems struct {
	crt, key, newCrt, newKey, ca []byte
}

func newPEMs(t *testing.T) pems {
	t.Helper()
	old := selfSigned(t, newRSAKey(t), "*.example.test")
	rotated := selfSigned(t, newECDSAKey(t), "*.example.test")
	return pems{
		crt:    chainPEM(old.cert),
		key:    keyPEM(t, old.key, pkcs1),
		newCrt: chainPEM(rotated.cert),
		newKey: keyPEM(t, rotated.key, pkcs8),
		ca:     chainPEM(newCA(t, newECDSAKey(t), "Example CA").cert),
	}
}

// crtSibling is the seed's wildcard-crt: a certificate under key value, renamed tls.crt.
func crtSibling(crt []byte, kv ...string) *corev1.Secret {
	kv = append([]string{annotations.Keys, "value=tls.crt"}, kv...)
	return sibling("wildcard-crt", value(crt), kv...)
}

// keySibling is the seed's wildcard-key: a private key under key value, renamed tls.key.
func keySibling(key []byte, kv ...string) *corev1.Secret {
	kv = append([]string{annotations.Keys, "value=tls.key"}, kv...)
	return sibling("wildcard-key", value(key), kv...)
}

func TestMerge(t *testing.T) {
	t.Parallel()
	p := newPEMs(t)
	tls := corev1.SecretTypeTLS

	tests := map[string]struct {
		sources  []*corev1.Secret
		expected []string

		wantType        corev1.SecretType
		wantData        map[string][]byte
		wantReflectTo   string
		wantSelector    string
		wantCertificate bool
	}{
		"certificate and key from two Vault paths": {
			sources:         []*corev1.Secret{keySibling(p.key), crtSibling(p.crt)},
			wantType:        tls,
			wantData:        map[string][]byte{"tls.crt": p.crt, "tls.key": p.key},
			wantCertificate: true,
		},
		"rotation complete": {
			sources:         []*corev1.Secret{crtSibling(p.newCrt), keySibling(p.newKey)},
			expected:        []string{"wildcard-crt", "wildcard-key"},
			wantType:        tls,
			wantData:        map[string][]byte{"tls.crt": p.newCrt, "tls.key": p.newKey},
			wantCertificate: true,
		},
		"CA bundle from a third sibling": {
			sources: []*corev1.Secret{
				crtSibling(p.crt), keySibling(p.key),
				sibling("wildcard-ca", value(p.ca), annotations.Keys, "value=ca.crt"),
			},
			wantType:        tls,
			wantData:        map[string][]byte{"tls.crt": p.crt, "tls.key": p.key, "ca.crt": p.ca},
			wantCertificate: true,
		},
		"settings carried to the target when siblings agree": {
			sources: []*corev1.Secret{
				crtSibling(p.crt,
					annotations.Type, string(tls),
					annotations.ReflectTo, "auth,dex,hugo-.*",
					annotations.ReflectToSelector, "env in (prod)"),
				keySibling(p.key, annotations.ReflectTo, " auth,dex,hugo-.* "),
			},
			wantType:        tls,
			wantData:        map[string][]byte{"tls.crt": p.crt, "tls.key": p.key},
			wantReflectTo:   "auth,dex,hugo-.*",
			wantSelector:    "env in (prod)",
			wantCertificate: true,
		},
		"explicit Opaque type skips TLS validation": {
			sources: []*corev1.Secret{
				crtSibling(p.newCrt, annotations.Type, string(corev1.SecretTypeOpaque)),
				keySibling(p.key),
			},
			wantType: corev1.SecretTypeOpaque,
			wantData: map[string][]byte{"tls.crt": p.newCrt, "tls.key": p.key},
		},
		"every key under its own name without keys annotation": {
			sources: []*corev1.Secret{
				sibling("db", map[string][]byte{"username": []byte("app"), "password": []byte("pw")}),
				sibling("endpoint", map[string][]byte{"host": []byte("db.internal")}),
			},
			wantType: corev1.SecretTypeOpaque,
			wantData: map[string][]byte{
				"username": []byte("app"), "password": []byte("pw"), "host": []byte("db.internal"),
			},
		},
		"keys annotation leaves other keys out": {
			sources: []*corev1.Secret{
				sibling("db", map[string][]byte{"username": []byte("app"), "password": []byte("pw")},
					annotations.Keys, "password=db-password"),
			},
			wantType: corev1.SecretTypeOpaque,
			wantData: map[string][]byte{"db-password": []byte("pw")},
		},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Merge(wildcard, tt.sources, tt.expected)
			if err != nil {
				t.Fatalf("Merge(): %v", err)
			}

			if got.Key != wildcard || got.Type != tt.wantType {
				t.Errorf("Merge() = %s of type %s, want %s of type %s",
					got.Key, got.Type, wildcard, tt.wantType)
			}
			if !maps.EqualFunc(got.Data, tt.wantData, slices.Equal) {
				t.Errorf("Merge() data keys = %v, want %v", slices.Sorted(maps.Keys(got.Data)),
					slices.Sorted(maps.Keys(tt.wantData)))
			}
			if got.ReflectTo != tt.wantReflectTo || got.ReflectToSelector != tt.wantSelector {
				t.Errorf("Merge() reflects to %q and %q, want %q and %q",
					got.ReflectTo, got.ReflectToSelector, tt.wantReflectTo, tt.wantSelector)
			}
			if (got.Certificate != nil) != tt.wantCertificate {
				t.Errorf("Merge() certificate = %v, want one: %v", got.Certificate, tt.wantCertificate)
			}
			if names := sourceNames(tt.sources); !slices.Equal(got.Sources, names) {
				t.Errorf("Merge() sources = %v, want %v", got.Sources, names)
			}
		})
	}
}

func TestMergeRefused(t *testing.T) {
	t.Parallel()
	p := newPEMs(t)
	tls := string(corev1.SecretTypeTLS)
	password := func(v string) map[string][]byte { return map[string][]byte{"password": []byte(v)} }

	tests := map[string]struct {
		target   string
		sources  []*corev1.Secret
		expected []string

		wantReason    string
		wantTransient bool
	}{
		"rotation half done: new certificate, old key": {
			sources:       []*corev1.Secret{crtSibling(p.newCrt), keySibling(p.key)},
			wantReason:    annotations.ReasonKeyMismatch,
			wantTransient: true,
		},
		"key sibling not created yet": {
			sources:       []*corev1.Secret{crtSibling(p.crt)},
			wantReason:    annotations.ReasonMissingSource,
			wantTransient: true,
		},
		"certificate sibling not created yet": {
			sources:       []*corev1.Secret{keySibling(p.key)},
			wantReason:    annotations.ReasonMissingSource,
			wantTransient: true,
		},
		"sibling of the last published version gone": {
			sources:       []*corev1.Secret{crtSibling(p.crt), keySibling(p.key)},
			expected:      []string{"wildcard-ca", "wildcard-crt", "wildcard-key"},
			wantReason:    annotations.ReasonMissingSource,
			wantTransient: true,
		},
		"source key not written yet": {
			sources: []*corev1.Secret{
				crtSibling(p.crt), sibling("wildcard-key", nil, annotations.Keys, "value=tls.key"),
			},
			wantReason:    annotations.ReasonMissingSource,
			wantTransient: true,
		},
		"sources hold no data yet": {
			sources:       []*corev1.Secret{sibling("empty", nil)},
			wantReason:    annotations.ReasonMissingSource,
			wantTransient: true,
		},
		"explicit TLS type without TLS keys": {
			sources:       []*corev1.Secret{sibling("wildcard-crt", value(p.crt), annotations.Type, tls)},
			wantReason:    annotations.ReasonMissingSource,
			wantTransient: true,
		},
		"certificate that does not parse": {
			sources:    []*corev1.Secret{crtSibling([]byte("not a certificate")), keySibling(p.key)},
			wantReason: annotations.ReasonInvalidCertificate,
		},
		"two siblings write the same key": {
			sources: []*corev1.Secret{
				crtSibling(p.crt), keySibling(p.key),
				sibling("wildcard-crt-copy", value(p.newCrt), annotations.Keys, "value=tls.crt"),
			},
			wantReason: annotations.ReasonConflict,
		},
		"two siblings without keys annotation hold the same key": {
			sources:    []*corev1.Secret{sibling("db", password("a")), sibling("cache", password("b"))},
			wantReason: annotations.ReasonConflict,
		},
		"siblings disagree on the type": {
			sources: []*corev1.Secret{
				crtSibling(p.crt, annotations.Type, tls),
				keySibling(p.key, annotations.Type, string(corev1.SecretTypeOpaque)),
			},
			wantReason: annotations.ReasonConflict,
		},
		"siblings disagree on reflect-to": {
			sources: []*corev1.Secret{
				crtSibling(p.crt, annotations.ReflectTo, "auth,dex"),
				keySibling(p.key, annotations.ReflectTo, "auth"),
			},
			wantReason: annotations.ReasonConflict,
		},
		"siblings disagree on reflect-to-selector": {
			sources: []*corev1.Secret{
				crtSibling(p.crt, annotations.ReflectToSelector, "env=prod"),
				keySibling(p.key, annotations.ReflectToSelector, "env=dev"),
			},
			wantReason: annotations.ReasonConflict,
		},
		"invalid keys annotation": {
			sources: []*corev1.Secret{
				crtSibling(p.crt), sibling("wildcard-key", value(p.key), annotations.Keys, "value:tls.key"),
			},
			wantReason: annotations.ReasonInvalidAnnotation,
		},
		"empty keys annotation": {
			sources:    []*corev1.Secret{sibling("wildcard-key", value(p.key), annotations.Keys, "")},
			wantReason: annotations.ReasonInvalidAnnotation,
		},
		"target name with an uppercase letter": {
			target:     "Wildcard-TLS",
			sources:    []*corev1.Secret{crtSibling(p.crt), keySibling(p.key)},
			wantReason: annotations.ReasonInvalidAnnotation,
		},
		"target name with an underscore": {
			target:     "wildcard_tls",
			sources:    []*corev1.Secret{crtSibling(p.crt), keySibling(p.key)},
			wantReason: annotations.ReasonInvalidAnnotation,
		},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			target := wildcard
			if tt.target != "" {
				target.Name = tt.target
			}
			got, err := Merge(target, tt.sources, tt.expected)
			if got != nil {
				t.Errorf("Merge() = target with keys %v along with error %v",
					slices.Sorted(maps.Keys(got.Data)), err)
			}
			assertRefused(t, err, tt.wantReason, tt.wantTransient)
		})
	}
}

// assertRefused fails unless err is a *merger.Error with the reason and transience given.
func assertRefused(t *testing.T, err error, reason string, transient bool) {
	t.Helper()
	var refusal *Error
	if !errors.As(err, &refusal) {
		t.Fatalf("Merge() error = %v, want a refusal for %s", err, reason)
	}
	if refusal.Reason != reason || refusal.Transient != transient {
		t.Errorf("Merge() refused with %s (transient %v): %v; want %s (transient %v)",
			refusal.Reason, refusal.Transient, err, reason, transient)
	}
}

// sourceNames returns the sorted names of sources.
func sourceNames(sources []*corev1.Secret) []string {
	var names []string
	for _, s := range sources {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

func TestMergeHash(t *testing.T) {
	t.Parallel()
	list := func(s ...*corev1.Secret) []*corev1.Secret { return s }
	a := sibling("a", map[string][]byte{"username": []byte("app")})
	b := sibling("b", map[string][]byte{"password": []byte("s3cr3t")})
	rotated := sibling("b", map[string][]byte{"password": []byte("rotated")})
	custom := sibling("b", b.Data, annotations.Type, "example.com/credentials")
	joined := sibling("a", map[string][]byte{"ab": []byte("c")})
	split := sibling("a", map[string][]byte{"a": []byte("bc")})

	tests := map[string]struct {
		first, second []*corev1.Secret
		wantSame      bool
	}{
		"sources in another order":    {first: list(a, b), second: list(b, a), wantSame: true},
		"a value changed":             {first: list(a, b), second: list(a, rotated)},
		"the type changed":            {first: list(a, b), second: list(a, custom)},
		"a key gone":                  {first: list(a, b), second: list(b)},
		"key and value bytes shifted": {first: list(joined), second: list(split)},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			first, err := Merge(wildcard, tt.first, nil)
			if err != nil {
				t.Fatalf("Merge(first): %v", err)
			}
			second, err := Merge(wildcard, tt.second, nil)
			if err != nil {
				t.Fatalf("Merge(second): %v", err)
			}
			if same := first.Hash == second.Hash; same != tt.wantSame {
				t.Errorf("hashes %s and %s: same = %v, want %v", first.Hash, second.Hash, same, tt.wantSame)
			}
		})
	}
}

func TestMergeLeavesSourcesAlone(t *testing.T) {
	t.Parallel()
	pair := selfSigned(t, newECDSAKey(t), "*.example.test")
	crt := sibling("wildcard-crt", value(chainPEM(pair.cert)), annotations.Keys, "value=tls.crt")
	key := sibling("wildcard-key", value(keyPEM(t, pair.key, sec1)), annotations.Keys, "value=tls.key",
		annotations.ReflectTo, "auth")

	tests := map[string]struct {
		sources    []*corev1.Secret
		wantMerged bool
	}{
		"merged":  {sources: []*corev1.Secret{key, crt}, wantMerged: true},
		"refused": {sources: []*corev1.Secret{key}},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			order := slices.Clone(tt.sources)
			var copies []*corev1.Secret
			for _, s := range tt.sources {
				copies = append(copies, s.DeepCopy())
			}

			got, err := Merge(wildcard, tt.sources, nil)
			if (err == nil) != tt.wantMerged {
				t.Fatalf("Merge() error = %v, want a merge: %v", err, tt.wantMerged)
			}
			if !slices.Equal(tt.sources, order) {
				t.Errorf("Merge() reordered its input: %s first, was %s", tt.sources[0].Name, order[0].Name)
			}
			for i, s := range tt.sources {
				if !reflect.DeepEqual(s, copies[i]) {
					t.Errorf("Merge() changed source %s", s.Name)
				}
			}
			if got != nil {
				got.Data["extra"] = []byte("x")
				if _, shared := key.Data["extra"]; shared {
					t.Errorf("the target's data map is a source's map")
				}
			}
		})
	}
}

// Package merger computes a merge target from its sibling source Secrets and validates the
// result. It is pure: it reads Secrets it is given and makes no API calls, so every rule of
// the merge can be tested on its own.
package merger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tazlab/mergeflect/annotations"
)

// Target is the consolidated Secret that a set of siblings describes.
type Target struct {
	Key     types.NamespacedName
	Type    corev1.SecretType
	Data    map[string][]byte
	Sources []string

	// ReflectTo and ReflectToSelector are the reflection settings the siblings agree on,
	// carried to the target as written so that the reflector reads them from there.
	ReflectTo         string
	ReflectToSelector string

	// Hash is a short digest of Type and Data that names a version without revealing it.
	Hash string

	// Certificate is set for kubernetes.io/tls targets.
	Certificate *Certificate
}

// Error is a refused merge. Reason is one of the Event reasons in package annotations.
// Transient refusals (a missing sibling, a key that does not match its certificate yet)
// are expected for a moment during a rotation and are reported only if they last.
type Error struct {
	Reason    string
	Transient bool
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func refuse(reason string, transient bool, format string, args ...any) *Error {
	return &Error{Reason: reason, Transient: transient, Err: fmt.Errorf(format, args...)}
}

// Merge builds the target key from sources, the Secrets labelled as its siblings. expected
// names the sources of the last good target: one of them missing is a transient refusal,
// so a sibling deleted for a moment never shrinks the target. Merge returns an *Error when
// the result must not be published.
func Merge(key types.NamespacedName, sources []*corev1.Secret, expected []string) (*Target, error) {
	if errs := validation.IsDNS1123Subdomain(key.Name); len(errs) > 0 {
		return nil, refuse(annotations.ReasonInvalidAnnotation, false,
			"target name %q from label %s: %s", key.Name, annotations.MergeInto, strings.Join(errs, "; "))
	}

	sources = slices.Clone(sources)
	slices.SortFunc(sources, func(a, b *corev1.Secret) int { return strings.Compare(a.Name, b.Name) })
	t := &Target{Key: key, Data: map[string][]byte{}}
	for _, s := range sources {
		t.Sources = append(t.Sources, s.Name)
	}

	if missing := absent(expected, t.Sources); len(missing) > 0 {
		return nil, refuse(annotations.ReasonMissingSource, true,
			"source %s of the last published version is gone", strings.Join(missing, ", "))
	}
	if err := t.agree(sources); err != nil {
		return nil, err
	}

	declared, err := t.collect(sources)
	if err != nil {
		return nil, err
	}
	if t.Type == "" {
		t.Type = defaultType(declared)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}

	t.Hash = Hash(t.Type, t.Data)
	return t, nil
}

// agree reads the target-level settings; siblings that set one must set the same value.
func (t *Target) agree(sources []*corev1.Secret) error {
	settings := []struct {
		annotation string
		into       *string
	}{
		{annotations.Type, (*string)(&t.Type)},
		{annotations.ReflectTo, &t.ReflectTo},
		{annotations.ReflectToSelector, &t.ReflectToSelector},
	}

	for _, setting := range settings {
		from := ""
		for _, s := range sources {
			value := strings.TrimSpace(s.Annotations[setting.annotation])
			if value == "" {
				continue
			}
			if from != "" && value != *setting.into {
				return refuse(annotations.ReasonConflict, false,
					"siblings %s and %s disagree on %s", from, s.Name, setting.annotation)
			}
			from, *setting.into = s.Name, value
		}
	}
	return nil
}

// collect copies the selected keys of every source into the target. It returns the target
// keys the sources declare, including those whose source key is still missing.
func (t *Target) collect(sources []*corev1.Secret) ([]string, error) {
	owner := map[string]string{}
	var declared, missing []string

	for _, s := range sources {
		mappings, err := mappingsOf(s)
		if err != nil {
			return nil, err
		}
		for _, m := range mappings {
			if other, taken := owner[m.Target]; taken {
				return nil, refuse(annotations.ReasonConflict, false,
					"siblings %s and %s both write key %s", other, s.Name, m.Target)
			}
			owner[m.Target] = s.Name
			declared = append(declared, m.Target)

			value, ok := s.Data[m.Source]
			if !ok {
				missing = append(missing, s.Name+"["+m.Source+"]")
				continue
			}
			t.Data[m.Target] = value
		}
	}

	if len(missing) > 0 {
		return nil, refuse(annotations.ReasonMissingSource, true,
			"source key %s is not present yet", strings.Join(missing, ", "))
	}
	return declared, nil
}

// mappingsOf returns the keys a source contributes: those its annotation lists, or else
// every key it holds under its own name.
func mappingsOf(s *corev1.Secret) ([]Mapping, error) {
	value, ok := s.Annotations[annotations.Keys]
	if !ok {
		mappings := make([]Mapping, 0, len(s.Data))
		for _, k := range slices.Sorted(maps.Keys(s.Data)) {
			mappings = append(mappings, Mapping{Source: k, Target: k})
		}
		return mappings, nil
	}

	mappings, err := ParseKeys(value)
	if err != nil {
		return nil, refuse(annotations.ReasonInvalidAnnotation, false,
			"source %s: %s: %w", s.Name, annotations.Keys, err)
	}
	return mappings, nil
}

// defaultType is kubernetes.io/tls when the declared keys name a certificate or its key.
// Either one alone still makes a TLS target, so that a merge waits for the other half
// instead of publishing an Opaque Secret whose type could not change later.
func defaultType(declared []string) corev1.SecretType {
	if slices.Contains(declared, corev1.TLSCertKey) || slices.Contains(declared, corev1.TLSPrivateKeyKey) {
		return corev1.SecretTypeTLS
	}
	return corev1.SecretTypeOpaque
}

// validate refuses a target the API server or its consumers would reject.
func (t *Target) validate() error {
	if len(t.Data) == 0 {
		return refuse(annotations.ReasonMissingSource, true, "the sources hold no data yet")
	}
	if t.Type != corev1.SecretTypeTLS {
		return nil
	}

	crt, key := t.Data[corev1.TLSCertKey], t.Data[corev1.TLSPrivateKeyKey]
	for name, value := range map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key} {
		if len(value) == 0 {
			return refuse(annotations.ReasonMissingSource, true,
				"type %s needs key %s, which no source provides yet", t.Type, name)
		}
	}

	cert, err := ValidateTLS(crt, key)
	switch {
	case errors.Is(err, ErrKeyMismatch):
		return refuse(annotations.ReasonKeyMismatch, true, "%s: %w", corev1.TLSPrivateKeyKey, err)
	case err != nil:
		return refuse(annotations.ReasonInvalidCertificate, false, "%w", err)
	}
	t.Certificate = &cert
	return nil
}

// Hash returns a short, stable digest of a Secret's type and data.
func Hash(secretType corev1.SecretType, data map[string][]byte) string {
	h := sha256.New()
	h.Write([]byte(secretType))
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "\x00%s\x00%d\x00", k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// absent returns the names of want that are not in have.
func absent(want, have []string) []string {
	var out []string
	for _, name := range want {
		if !slices.Contains(have, name) {
			out = append(out, name)
		}
	}
	return out
}

package reflector

import (
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/merger"
)

// Mirror returns the copy of source that belongs in namespace ns: same name, type and data,
// labelled as managed by mergeflect and annotated with where it comes from.
func Mirror(source *corev1.Secret, ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      source.Name,
			Labels:    map[string]string{annotations.ManagedBy: annotations.ManagedByValue},
			Annotations: map[string]string{
				annotations.ReflectedFrom: source.Namespace + "/" + source.Name,
				annotations.ContentHash:   merger.Hash(source.Type, source.Data),
			},
		},
		Type: source.Type,
		Data: maps.Clone(source.Data),
	}
}

// SourceOf returns the Secret a mirror was copied from, read from its annotation.
func SourceOf(mirror metav1.Object) (types.NamespacedName, bool) {
	value, ok := mirror.GetAnnotations()[annotations.ReflectedFrom]
	if !ok {
		return types.NamespacedName{}, false
	}
	key, err := ParseRef(value)
	return key, err == nil
}

// ParseRef parses a namespace/name reference such as Reflector's reflects annotation.
func ParseRef(value string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(strings.TrimSpace(value), "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return types.NamespacedName{}, fmt.Errorf("%q is not namespace/name", value)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// Package informers builds the shared informers mergeflect watches the cluster through. Each
// one asks the API server for exactly the objects it needs: sources and managed Secrets by
// label, every other Secret as metadata only, stripped to a stub unless Reflector's
// annotations mark it. Memory therefore does not grow with the data of Secrets mergeflect
// does not manage.
package informers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/reflector"
)

// Index names registered on the informers.
const (
	// ByTarget indexes sources by the namespace/name of the target they merge into.
	ByTarget = "byTarget"
	// ByReflectedFrom indexes managed mirrors by the namespace/name of the Secret they copy.
	ByReflectedFrom = "byReflectedFrom"
	// ByReflects indexes Secrets by the namespace/name in their Reflector reflects annotation.
	ByReflects = "byReflects"
	// ByRole indexes managed Secrets as RoleTarget or RoleMirror, and Secret metadata as
	// RoleReflectorSource when Reflector's annotations ask for it to be reflected.
	ByRole = "byRole"
)

// Roles used as values of the ByRole index.
const (
	RoleTarget          = "target"
	RoleMirror          = "mirror"
	RoleReflectorSource = "reflectorSource"
)

// Options chooses what the informers watch.
type Options struct {
	// Reflector enables the metadata informer that finds Reflector-annotated Secrets.
	Reflector bool
}

// Set is the group of informers the controllers share.
type Set struct {
	// Sources holds Secrets labelled mergeflect.io/merge-into, with their data.
	Sources cache.SharedIndexInformer
	// Managed holds the targets and mirrors mergeflect wrote, with their data.
	Managed cache.SharedIndexInformer
	// Metadata holds every Secret as metadata; nil unless Options.Reflector is set.
	Metadata cache.SharedIndexInformer
	// Namespaces holds every namespace, for reflection into namespaces created later.
	Namespaces cache.SharedIndexInformer
}

// New creates the informers; none runs until Start.
func New(client kubernetes.Interface, meta metadata.Interface, opts Options) (*Set, error) {
	s := &Set{
		Sources: coreinformers.NewFilteredSecretInformer(client, metav1.NamespaceAll, 0,
			cache.Indexers{ByTarget: indexByTarget}, selectLabel(annotations.MergeInto)),
		Managed: coreinformers.NewFilteredSecretInformer(client, metav1.NamespaceAll, 0,
			cache.Indexers{ByReflectedFrom: indexByReflectedFrom, ByRole: indexManagedRole},
			selectLabel(annotations.ManagedBy+"="+annotations.ManagedByValue)),
		Namespaces: coreinformers.NewNamespaceInformer(client, 0, cache.Indexers{}),
	}
	if opts.Reflector {
		gvr := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
		s.Metadata = metadatainformer.NewFilteredMetadataInformer(meta, gvr, metav1.NamespaceAll, 0,
			cache.Indexers{ByReflects: indexByReflects, ByRole: indexReflectorRole}, nil).Informer()
	}

	for _, inf := range s.all() {
		transform := stripManagedFields
		if inf == s.Metadata {
			transform = stubUnlessReflector
		}
		if err := inf.SetTransform(transform); err != nil {
			return nil, fmt.Errorf("set informer transform: %w", err)
		}
	}
	return s, nil
}

// Start runs every informer until ctx is done.
func (s *Set) Start(ctx context.Context) {
	for _, inf := range s.all() {
		go inf.RunWithContext(ctx)
	}
}

// WaitForSync blocks until every informer has listed once, or ctx is done.
func (s *Set) WaitForSync(ctx context.Context) bool {
	var synced []cache.InformerSynced
	for _, inf := range s.all() {
		synced = append(synced, inf.HasSynced)
	}
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

func (s *Set) all() []cache.SharedIndexInformer {
	all := []cache.SharedIndexInformer{s.Sources, s.Managed, s.Namespaces}
	if s.Metadata != nil {
		all = append(all, s.Metadata)
	}
	return all
}

func selectLabel(selector string) func(*metav1.ListOptions) {
	return func(o *metav1.ListOptions) { o.LabelSelector = selector }
}

// stripManagedFields drops the field-manager bookkeeping no controller here reads.
func stripManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// stubUnlessReflector keeps, of a Secret's metadata, only its identity and Reflector's
// annotations. A Secret without them is kept as a stub of a few strings.
func stubUnlessReflector(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}

	stub := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Namespace:         m.Namespace,
		Name:              m.Name,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		DeletionTimestamp: m.DeletionTimestamp,
	}}
	for _, key := range reflectorKeys {
		if value, ok := m.Annotations[key]; ok {
			if stub.Annotations == nil {
				stub.Annotations = map[string]string{}
			}
			stub.Annotations[key] = value
		}
	}
	return stub, nil
}

var reflectorKeys = []string{
	annotations.ReflectorAllowed,
	annotations.ReflectorAllowedNamespaces,
	annotations.ReflectorAutoEnabled,
	annotations.ReflectorAutoNamespaces,
	annotations.ReflectorReflects,
}

// TargetKey returns the target a source merges into, if it has one.
func TargetKey(obj metav1.Object) (types.NamespacedName, bool) {
	name := obj.GetLabels()[annotations.MergeInto]
	if name == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}, true
}

func indexByTarget(obj any) ([]string, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	if key, ok := TargetKey(o); ok {
		return []string{key.String()}, nil
	}
	return nil, nil
}

func indexByReflectedFrom(obj any) ([]string, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	if key, ok := reflector.SourceOf(o); ok {
		return []string{key.String()}, nil
	}
	return nil, nil
}

func indexByReflects(obj any) ([]string, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	key, err := reflector.ParseRef(o.GetAnnotations()[annotations.ReflectorReflects])
	if err != nil {
		return nil, nil //nolint:nilerr // not a valid reference: nothing to index; the pull sync reports it
	}
	return []string{key.String()}, nil
}

func indexManagedRole(obj any) ([]string, error) {
	o, ok := obj.(metav1.Object)
	switch {
	case !ok:
		return nil, nil
	case IsTarget(o):
		return []string{RoleTarget}, nil
	case o.GetAnnotations()[annotations.ReflectedFrom] != "":
		return []string{RoleMirror}, nil
	}
	return nil, nil
}

func indexReflectorRole(obj any) ([]string, error) {
	o, ok := obj.(metav1.Object)
	if ok && reflector.IsReflectorSource(o.GetAnnotations()) {
		return []string{RoleReflectorSource}, nil
	}
	return nil, nil
}

// IsTarget reports whether a managed Secret is a merge target rather than a mirror.
func IsTarget(s metav1.Object) bool {
	_, ok := s.GetAnnotations()[annotations.Sources]
	return ok
}

// Terminating reports whether a namespace is being deleted, so that no copy is written there.
func Terminating(ns *corev1.Namespace) bool {
	return ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating
}

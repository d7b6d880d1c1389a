package controller

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/merger"
	"github.com/tazlab/mergeflect/reflector"
)

// syncPull copies into the Secret key the data of the Secret its Reflector reflects
// annotation names, when that Secret allows key's namespace. The annotation is the owner's
// consent to have this one Secret's data written; nothing else of it changes.
func (c *Controller) syncPull(ctx context.Context, key types.NamespacedName) error {
	meta := c.metadata(key)
	if meta == nil || !allowed(c.opts.ReflectNamespaces, key.Namespace) {
		return nil
	}
	value, ok := meta.GetAnnotations()[annotations.ReflectorReflects]
	if !ok {
		return nil
	}

	from, err := reflector.ParseRef(value)
	if err != nil {
		c.warn(annotations.ReasonInvalidAnnotation,
			fmt.Sprintf("%s: %v", annotations.ReflectorReflects, err), secretRef(meta))
		return nil
	}
	source, err := c.pullSource(ctx, from, key)
	if err != nil || source == nil {
		return err
	}

	return c.copyInto(ctx, key, source)
}

// pullSource reads the Secret from, or reports why key may not copy it and returns nil.
func (c *Controller) pullSource(ctx context.Context, from, key types.NamespacedName) (*corev1.Secret, error) {
	ref := &corev1.ObjectReference{Kind: "Secret", APIVersion: "v1", Namespace: key.Namespace, Name: key.Name}
	meta := c.metadata(from)
	if meta == nil || !allowed(c.opts.SourceNamespaces, from.Namespace) {
		c.warn(annotations.ReasonMissingSource, fmt.Sprintf("reflected secret %s does not exist", from), ref)
		return nil, nil
	}

	allowed, err := reflector.AllowsPull(meta.GetAnnotations(), key.Namespace)
	if err != nil {
		c.warn(annotations.ReasonInvalidAnnotation, fmt.Sprintf("reflected secret %s: %v", from, err), ref)
		return nil, nil
	}
	if !allowed {
		c.warn(annotations.ReasonInvalidAnnotation,
			fmt.Sprintf("secret %s does not allow reflection into namespace %s", from, key.Namespace), ref)
		return nil, nil
	}

	source, err := c.client.CoreV1().Secrets(from.Namespace).Get(ctx, from.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read reflected secret %s: %w", from, err)
	}
	return source, nil
}

// copyInto writes source's data into the Secret key if it differs.
func (c *Controller) copyInto(ctx context.Context, key types.NamespacedName, source *corev1.Secret) error {
	secrets := c.client.CoreV1().Secrets(key.Namespace)
	current, err := secrets.Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read secret %s: %w", key, err)
	}

	if current.Type != source.Type {
		c.warn(annotations.ReasonConflict, fmt.Sprintf("type %s cannot take the data of %s/%s of type %s",
			current.Type, source.Namespace, source.Name, source.Type), secretRef(current))
		return nil
	}
	hash := merger.Hash(source.Type, source.Data)
	if merger.Hash(current.Type, current.Data) == hash {
		return nil
	}

	next := current.DeepCopy()
	next.Data = maps.Clone(source.Data)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[annotations.ContentHash] = hash
	opts := metav1.UpdateOptions{FieldManager: fieldManager, DryRun: c.dryRun()}
	if _, err := secrets.Update(ctx, next, opts); err != nil {
		return fmt.Errorf("update secret %s: %w", key, err)
	}
	c.planned("update", next, fmt.Sprintf("data of %s/%s", source.Namespace, source.Name))
	c.normal(annotations.ReasonReflected, fmt.Sprintf("copied data of %s/%s",
		source.Namespace, source.Name), hash, secretRef(next))
	return nil
}

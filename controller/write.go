package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tazlab/mergeflect/annotations"
)

// errUnmanaged is returned when a Secret of the wanted name exists without mergeflect's
// managed-by label; it is never changed.
var errUnmanaged = errors.New("a Secret of that name exists and is not managed by mergeflect")

// Write results returned by apply.
const (
	created   = "created"
	updated   = "updated"
	unchanged = "unchanged"
	retried   = "retried"
)

// ownAnnotations are the annotations mergeflect writes; an update removes those want lacks.
var ownAnnotations = []string{
	annotations.Sources, annotations.ContentHash, annotations.ReflectedFrom,
	annotations.ReflectTo, annotations.ReflectToSelector,
}

// apply makes the managed Secret want exist as described. existing is the cached Secret of
// that name, nil if the cache holds none. Nothing is sent when existing already matches.
func (c *Controller) apply(ctx context.Context, existing, want *corev1.Secret) (string, error) {
	key := types.NamespacedName{Namespace: want.Namespace, Name: want.Name}
	secrets := c.client.CoreV1().Secrets(want.Namespace)

	switch {
	case existing == nil:
		return c.create(ctx, want)

	case upToDate(existing, want):
		return unchanged, nil

	case existing.Type != want.Type:
		// The type of a Secret cannot change: replace ours, guarded by its UID and version,
		// but only once the API server has accepted the replacement in a dry run, so that
		// a replacement it would refuse never costs the last good version.
		if err := c.dryRunCreate(ctx, want); err != nil {
			return "", err
		}
		if c.opts.DryRun {
			c.planned("replace", want, fmt.Sprintf("type %s becomes %s", existing.Type, want.Type))
			return updated, nil
		}
		if err := c.remove(ctx, existing); err != nil {
			return "", err
		}
		return c.create(ctx, want)
	}

	next := existing.DeepCopy()
	next.Data = want.Data
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	maps.Copy(next.Labels, want.Labels)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	for _, k := range ownAnnotations {
		delete(next.Annotations, k)
	}
	maps.Copy(next.Annotations, want.Annotations)

	opts := metav1.UpdateOptions{FieldManager: fieldManager, DryRun: c.dryRun()}
	if _, err := secrets.Update(ctx, next, opts); err != nil {
		return "", fmt.Errorf("update secret %s: %w", key, err)
	}
	c.planned("update", next, describe(want))
	return updated, nil
}

// create creates want. When a Secret of that name already exists and is not ours, it
// returns errUnmanaged; when it is ours the cache is behind, and the error is retried.
func (c *Controller) create(ctx context.Context, want *corev1.Secret) (string, error) {
	key := types.NamespacedName{Namespace: want.Namespace, Name: want.Name}
	secrets := c.client.CoreV1().Secrets(want.Namespace)

	_, err := secrets.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager, DryRun: c.dryRun()})
	if err == nil {
		c.planned("create", want, describe(want))
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create secret %s: %w", key, err)
	}

	// Only a read tells whose Secret is in the way; the managed cache holds only ours.
	found, getErr := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	if getErr != nil {
		return "", fmt.Errorf("read existing secret %s: %w", key, getErr)
	}
	if !isManaged(found) {
		return "", errUnmanaged
	}
	return "", fmt.Errorf("create secret %s: %w", key, err)
}

// dryRunCreate asks the API server to validate want without storing it. The name is
// generated, since want's own name is still taken by the version being replaced.
func (c *Controller) dryRunCreate(ctx context.Context, want *corev1.Secret) error {
	probe := want.DeepCopy()
	probe.GenerateName, probe.Name = want.Name[:min(len(want.Name), 200)]+"-", ""
	_, err := c.client.CoreV1().Secrets(want.Namespace).Create(ctx, probe, metav1.CreateOptions{
		DryRun: []string{metav1.DryRunAll}, FieldManager: fieldManager,
	})
	if err != nil {
		return fmt.Errorf("validate replacement of secret %s/%s: %w", want.Namespace, want.Name, err)
	}
	return nil
}

// remove deletes a managed Secret, only in the version the cache saw.
func (c *Controller) remove(ctx context.Context, s *corev1.Secret) error {
	uid, rv := s.UID, s.ResourceVersion
	err := c.client.CoreV1().Secrets(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		DryRun:        c.dryRun(),
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	c.planned("delete", s, "no longer selected")
	return nil
}

// upToDate reports whether existing already holds what want would write.
func upToDate(existing, want *corev1.Secret) bool {
	if existing.Type != want.Type {
		return false
	}
	for k, v := range want.Labels {
		if existing.Labels[k] != v {
			return false
		}
	}
	for _, k := range ownAnnotations {
		if existing.Annotations[k] != want.Annotations[k] {
			return false
		}
	}
	return maps.EqualFunc(existing.Data, want.Data, func(a, b []byte) bool { return string(a) == string(b) })
}

// permanent reports whether the API server refused a write for its content, so that the
// same write can never succeed.
func permanent(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsRequestEntityTooLargeError(err)
}

// describe says in a few words what a target holds, for a dry run's report.
func describe(s *corev1.Secret) string {
	return fmt.Sprintf("%s from %s", s.Type, s.Annotations[annotations.Sources])
}

func isManaged(s metav1.Object) bool {
	return s.GetLabels()[annotations.ManagedBy] == annotations.ManagedByValue
}

// fieldManager names mergeflect in the managedFields of what it writes.
const fieldManager = "mergeflect"

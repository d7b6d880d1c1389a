package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/informers"
	"github.com/tazlab/mergeflect/merger"
	"github.com/tazlab/mergeflect/metrics"
)

// syncTarget recomputes the target key from its sources and writes it if it changed.
func (c *Controller) syncTarget(ctx context.Context, key types.NamespacedName) error {
	if !allowed(c.opts.SourceNamespaces, key.Namespace) {
		return nil
	}
	sources := c.sourcesOf(key)
	existing := c.managed(key)

	// A mirror of another namespace's Secret holds this name: its owner keeps it.
	if existing != nil && !informers.IsTarget(existing) {
		c.refuseNow(key, sources, nil, annotations.ReasonConflict,
			fmt.Sprintf("target %s is already a mirror of %s", key, existing.Annotations[annotations.ReflectedFrom]))
		c.merges.AddAfter(key, c.opts.ConflictRetry)
		return nil
	}

	// With no source left, the last good target and its mirrors stay as they are.
	if len(sources) == 0 {
		c.trackExpiry(existing)
		if existing != nil {
			c.refuseNow(key, nil, existing, annotations.ReasonMissingSource,
				fmt.Sprintf("target %s has no source left; keeping its last good version", key))
		} else {
			c.refusals.clear(key)
			c.exportExpiry(key, nil)
		}
		return nil
	}

	target, err := merger.Merge(key, sources, sourcesRecorded(existing))
	if err != nil {
		c.refuse(key, sources, existing, asRefusal(err))
		c.trackExpiry(existing)
		return nil
	}
	c.refusals.clear(key)

	return c.publish(ctx, target, sources, existing)
}

// publish writes a validated target and reports what changed.
func (c *Controller) publish(
	ctx context.Context,
	t *merger.Target,
	sources []*corev1.Secret,
	existing *corev1.Secret,
) error {
	result, err := c.apply(ctx, existing, targetSecret(t))
	if errors.Is(err, errUnmanaged) {
		c.refuseNow(t.Key, sources, nil, annotations.ReasonConflict,
			fmt.Sprintf("target %s: %v", t.Key, err))
		c.merges.AddAfter(t.Key, c.opts.ConflictRetry)
		return nil
	}
	if permanent(err) {
		// Retrying cannot help: the API server refuses this content. The last good version
		// stays until the sources change.
		c.refuseNow(t.Key, sources, existing, annotations.ReasonWriteFailed, err.Error())
		return nil
	}
	if err != nil {
		return err
	}

	c.exportExpiry(t.Key, t.Certificate)
	if result == unchanged {
		c.metrics.MergesTotal.WithLabelValues(metrics.MergeUnchanged).Inc()
		c.log.Debug().Str("namespace", t.Key.Namespace).Str("secret", t.Key.Name).Msg("target up to date")
		return nil
	}

	c.metrics.MergesTotal.WithLabelValues(metrics.MergeWritten).Inc()
	ref := &corev1.ObjectReference{Kind: "Secret", APIVersion: "v1", Namespace: t.Key.Namespace, Name: t.Key.Name}
	c.normal(annotations.ReasonMerged, fmt.Sprintf("%s %s Secret from %s",
		result, t.Type, strings.Join(t.Sources, ", ")), t.Hash, ref)
	return nil
}

// refuse reports a refused merge: at once when it is permanent, after the grace period
// when it is transient. The target and its mirrors keep their last good version.
func (c *Controller) refuse(
	key types.NamespacedName,
	sources []*corev1.Secret,
	existing *corev1.Secret,
	err *merger.Error,
) {
	report, wait := c.refusals.observe(key, err, c.opts.Grace, time.Now())
	if wait > 0 {
		c.log.Debug().Str("namespace", key.Namespace).Str("secret", key.Name).Str("reason", err.Reason).
			Dur("wait", wait).Msg("merge waits for its sources to agree")
		c.merges.AddAfter(key, wait)
		return
	}

	c.metrics.MergesTotal.WithLabelValues(metrics.MergeRefused).Inc()
	if report {
		c.warn(err.Reason, fmt.Sprintf("merge into %s refused, last good version kept: %v", key, err),
			refsOf(sources, existing)...)
	}
}

// refuseNow reports a refusal that no grace period can mend.
func (c *Controller) refuseNow(
	key types.NamespacedName,
	sources []*corev1.Secret,
	existing *corev1.Secret,
	reason,
	message string,
) {
	c.refuse(key, sources, existing, &merger.Error{Reason: reason, Err: errors.New(message)})
}

// trackExpiry exports the expiry of the certificate that target publishes now, so that a
// target whose merges are refused still shows how long its last good version lasts.
func (c *Controller) trackExpiry(target *corev1.Secret) {
	if target == nil {
		return
	}
	key := types.NamespacedName{Namespace: target.Namespace, Name: target.Name}
	cert, err := merger.ValidateTLS(target.Data[corev1.TLSCertKey], target.Data[corev1.TLSPrivateKeyKey])
	if target.Type != corev1.SecretTypeTLS || err != nil {
		c.exportExpiry(key, nil)
		return
	}
	c.exportExpiry(key, &cert)
}

// exportExpiry sets the expiry series of target, or removes it when there is no certificate.
func (c *Controller) exportExpiry(target types.NamespacedName, cert *merger.Certificate) {
	if cert == nil {
		c.metrics.CertificateExpiry.DeleteLabelValues(target.Namespace, target.Name)
		return
	}
	c.metrics.CertificateExpiry.WithLabelValues(target.Namespace, target.Name).Set(float64(cert.NotAfter.Unix()))
}

// sourcesOf returns the live sources of key from the cache. They must not be modified.
func (c *Controller) sourcesOf(key types.NamespacedName) []*corev1.Secret {
	objs, err := c.inf.Sources.GetIndexer().ByIndex(informers.ByTarget, key.String())
	if err != nil {
		c.log.Error().Err(err).Msg("read source index")
		return nil
	}
	var sources []*corev1.Secret
	for _, obj := range objs {
		if s, ok := obj.(*corev1.Secret); ok && s.DeletionTimestamp == nil {
			sources = append(sources, s)
		}
	}
	return sources
}

// managed returns the cached managed Secret named key, or nil. It must not be modified.
func (c *Controller) managed(key types.NamespacedName) *corev1.Secret {
	obj, ok, err := c.inf.Managed.GetIndexer().GetByKey(key.String())
	if err != nil || !ok {
		return nil
	}
	s, _ := obj.(*corev1.Secret)
	return s
}

// targetSecret is the Secret that publishes t.
func targetSecret(t *merger.Target) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: t.Key.Namespace,
			Name:      t.Key.Name,
			Labels:    map[string]string{annotations.ManagedBy: annotations.ManagedByValue},
			Annotations: map[string]string{
				annotations.Sources:     strings.Join(t.Sources, ","),
				annotations.ContentHash: t.Hash,
			},
		},
		Type: t.Type,
		Data: t.Data,
	}
	if t.ReflectTo != "" {
		s.Annotations[annotations.ReflectTo] = t.ReflectTo
	}
	if t.ReflectToSelector != "" {
		s.Annotations[annotations.ReflectToSelector] = t.ReflectToSelector
	}
	return s
}

// sourcesRecorded returns the source names the last published target was built from.
func sourcesRecorded(target *corev1.Secret) []string {
	if target == nil || target.Annotations[annotations.Sources] == "" {
		return nil
	}
	return strings.Split(target.Annotations[annotations.Sources], ",")
}

func refsOf(sources []*corev1.Secret, target *corev1.Secret) []*corev1.ObjectReference {
	var refs []*corev1.ObjectReference
	for _, s := range sources {
		refs = append(refs, secretRef(s))
	}
	if target != nil {
		refs = append(refs, secretRef(target))
	}
	return refs
}

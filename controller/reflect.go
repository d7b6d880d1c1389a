package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/informers"
	"github.com/tazlab/mergeflect/metrics"
	"github.com/tazlab/mergeflect/reflector"
)

// syncReflection makes the mirrors of the Secret key match its reflection policy.
func (c *Controller) syncReflection(ctx context.Context, key types.NamespacedName) error {
	if !allowed(c.opts.SourceNamespaces, key.Namespace) {
		return nil
	}
	source, policy, err := c.reflected(ctx, key)
	if err != nil {
		return err
	}

	if source == nil {
		// A merge target that is gone while its sources remain is about to be recreated;
		// its mirrors keep the last good data meanwhile.
		if len(c.sourcesOf(key)) > 0 {
			return nil
		}
		return c.reconcileMirrors(ctx, key, nil, nil)
	}
	if policy == nil {
		return nil
	}
	return c.reconcileMirrors(ctx, key, source, c.selected(*policy, key.Namespace))
}

// reflected returns the Secret key with its data and its reflection policy. The Secret is
// nil when it no longer exists or no longer asks to be reflected; the policy is nil when
// its annotations cannot be parsed, which is reported and keeps the mirrors as they are.
func (c *Controller) reflected(
	ctx context.Context,
	key types.NamespacedName,
) (*corev1.Secret, *reflector.Policy, error) {
	target := c.plannedTarget(key)
	if target == nil {
		target = c.managed(key)
	}
	if target != nil && informers.IsTarget(target) {
		policy, err := reflector.ForTarget(target.Annotations[annotations.ReflectTo],
			target.Annotations[annotations.ReflectToSelector])
		return target, c.checkPolicy(target, policy, err), nil
	}

	meta := c.metadata(key)
	if meta == nil {
		return nil, nil, nil
	}
	policy, ok, err := reflector.ForReflector(meta.GetAnnotations())
	if !ok && err == nil {
		return nil, nil, nil
	}

	// The metadata cache holds no data: read this one Secret, a source in fact.
	source, getErr := c.client.CoreV1().Secrets(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(getErr) {
		return nil, nil, nil
	}
	if getErr != nil {
		return nil, nil, fmt.Errorf("read reflected secret %s: %w", key, getErr)
	}
	return source, c.checkPolicy(source, policy, err), nil
}

func (c *Controller) checkPolicy(source metav1.Object, policy reflector.Policy, err error) *reflector.Policy {
	if err != nil {
		c.warn(annotations.ReasonInvalidAnnotation,
			fmt.Sprintf("reflection settings not applied, mirrors kept as they are: %v", err), secretRef(source))
		return nil
	}
	return &policy
}

// selected returns the names of the namespaces policy selects, never the source's own.
func (c *Controller) selected(policy reflector.Policy, own string) map[string]bool {
	names := map[string]bool{}
	if policy.Empty() {
		return names
	}
	for _, obj := range c.inf.Namespaces.GetStore().List() {
		ns, ok := obj.(*corev1.Namespace)
		if ok && ns.Name != own && !informers.Terminating(ns) && policy.Selects(ns) &&
			allowed(c.opts.ReflectNamespaces, ns.Name) {
			names[ns.Name] = true
		}
	}
	return names
}

// reconcileMirrors writes the mirrors of source into every namespace of want and deletes
// those it owns elsewhere, several at a time. A nil source deletes every mirror of key.
func (c *Controller) reconcileMirrors(
	ctx context.Context,
	key types.NamespacedName,
	source *corev1.Secret,
	want map[string]bool,
) error {
	var writes []func(context.Context) (string, error)
	var conflicts []string

	for ns := range want {
		mirror := reflector.Mirror(source, ns)
		current := c.managed(types.NamespacedName{Namespace: ns, Name: key.Name})
		if current != nil {
			if from, _ := reflector.SourceOf(current); from != key {
				conflicts = append(conflicts, ns)
				continue
			}
		}
		writes = append(writes, func(ctx context.Context) (string, error) { return c.apply(ctx, current, mirror) })
	}
	for _, old := range c.mirrorsOf(key) {
		if !want[old.Namespace] {
			writes = append(writes, func(ctx context.Context) (string, error) {
				return metrics.MirrorDeleted, c.remove(ctx, old)
			})
		}
	}

	results, errs := c.fanOut(ctx, writes)
	c.reportReflection(key, source, results, conflicts)
	return errors.Join(errs...)
}

// fanOut runs writes with at most Options.FanOut in flight and counts their results.
func (c *Controller) fanOut(
	ctx context.Context,
	writes []func(context.Context) (string, error),
) (map[string]int, []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	results := map[string]int{}
	var errs []error
	slots := make(chan struct{}, max(c.opts.FanOut, 1))

	for _, write := range writes {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			result, err := write(ctx)
			switch {
			case errors.Is(err, errUnmanaged):
				result, err = metrics.MirrorConflict, nil
			case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
				// Our cache was behind; the queue retries the sync quietly.
				result = retried
			case err != nil:
				result = metrics.MirrorFailed
			}
			mu.Lock()
			defer mu.Unlock()
			results[result]++
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return results, errs
}

// reportReflection records what a reflection did: metrics always, Events for changes.
func (c *Controller) reportReflection(
	key types.NamespacedName,
	source *corev1.Secret,
	results map[string]int,
	conflicts []string,
) {
	for result, n := range results {
		if result != unchanged && result != retried {
			c.metrics.ReflectionsTotal.WithLabelValues(result).Add(float64(n))
		}
	}
	c.metrics.ReflectionsTotal.WithLabelValues(metrics.MirrorConflict).Add(float64(len(conflicts)))

	written := results[created] + results[updated] + results[metrics.MirrorDeleted]
	if results[metrics.MirrorFailed] == 0 {
		c.settleChange(key, written > 0)
	}
	if source == nil {
		return
	}

	ref := secretRef(source)
	if written > 0 {
		c.normal(annotations.ReasonReflected, fmt.Sprintf("mirrors: %d created, %d updated, %d deleted",
			results[created], results[updated], results[metrics.MirrorDeleted]),
			source.Annotations[annotations.ContentHash], ref)
	}
	if n := results[metrics.MirrorFailed]; n > 0 {
		c.warn(annotations.ReasonWriteFailed, fmt.Sprintf("%d mirror write(s) failed; retrying", n), ref)
	}
	n := results[metrics.MirrorConflict] + len(conflicts)
	if n > 0 {
		c.reflections.AddAfter(key, c.opts.ConflictRetry)
	}
	// A conflict is reported when it starts or changes, not again on every retry.
	message := fmt.Sprintf("%d namespace(s) already hold a Secret named %s that is not this one's mirror; "+
		"left untouched", n, key.Name)
	if c.conflicts.changed(key, n > 0, message) {
		c.warn(annotations.ReasonConflict, message, ref)
	}
}

// mirrorsOf returns the cached mirrors of key. They must not be modified.
func (c *Controller) mirrorsOf(key types.NamespacedName) []*corev1.Secret {
	objs, err := c.inf.Managed.GetIndexer().ByIndex(informers.ByReflectedFrom, key.String())
	if err != nil {
		c.log.Error().Err(err).Msg("read mirror index")
		return nil
	}
	var mirrors []*corev1.Secret
	for _, obj := range objs {
		if s, ok := obj.(*corev1.Secret); ok {
			mirrors = append(mirrors, s)
		}
	}
	return mirrors
}

// metadata returns the cached metadata of any Secret, or nil without the metadata informer.
func (c *Controller) metadata(key types.NamespacedName) metav1.Object {
	if c.inf.Metadata == nil {
		return nil
	}
	obj, ok, err := c.inf.Metadata.GetIndexer().GetByKey(key.String())
	if err != nil || !ok {
		return nil
	}
	m, _ := obj.(metav1.Object)
	return m
}

// markChanged notes when a change of a reflected Secret was first seen.
func (c *Controller) markChanged(key types.NamespacedName) {
	c.changedMu.Lock()
	defer c.changedMu.Unlock()
	if _, ok := c.changed[key]; !ok {
		c.changed[key] = time.Now()
	}
}

// settleChange forgets a change once every mirror holds it, timing it if mirrors were written.
func (c *Controller) settleChange(key types.NamespacedName, written bool) {
	c.changedMu.Lock()
	defer c.changedMu.Unlock()
	if since, ok := c.changed[key]; ok && written {
		c.metrics.Propagation.Observe(time.Since(since).Seconds())
	}
	delete(c.changed, key)
}

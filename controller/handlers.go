package controller

import (
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/informers"
	"github.com/tazlab/mergeflect/merger"
	"github.com/tazlab/mergeflect/reflector"
)

// registerHandlers connects informer events to the queues. Handlers only enqueue keys.
func (c *Controller) registerHandlers() error {
	handlers := []struct {
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{
		{c.inf.Sources, onEach(c.onSource)},
		{c.inf.Sources, c.onVaultSource()},
		{c.inf.Managed, onEach(c.onManaged)},
		{c.inf.Namespaces, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueAllReflections() },
			UpdateFunc: c.onNamespaceUpdate,
			DeleteFunc: func(any) { c.enqueueAllReflections() },
		}},
	}
	if c.inf.Metadata != nil {
		handlers = append(handlers, struct {
			informer cache.SharedIndexInformer
			handler  cache.ResourceEventHandler
		}{c.inf.Metadata, onEach(c.onMetadata)})
	}

	for _, h := range handlers {
		reg, err := h.informer.AddEventHandler(h.handler)
		if err != nil {
			return fmt.Errorf("add event handler: %w", err)
		}
		c.handlersSynced = append(c.handlersSynced, reg.HasSynced)
	}
	return nil
}

// HasSynced reports whether every handler has seen its informer's initial list, so that
// every key present at start is queued.
func (c *Controller) HasSynced() bool {
	for _, synced := range c.handlersSynced {
		if !synced() {
			return false
		}
	}
	return true
}

// onEach calls fn with every object an event concerns: the old and the new version of an
// update, so that a Secret that stops being a source still has its target recomputed.
// Updates that did not change the resourceVersion (resyncs) are skipped.
func onEach(fn func(metav1.Object)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(metav1.Object); ok {
				fn(o)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(metav1.Object)
			n, okNew := newObj.(metav1.Object)
			if !okOld || !okNew || o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			fn(o)
			fn(n)
		},
		DeleteFunc: func(obj any) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if o, ok := obj.(metav1.Object); ok {
				fn(o)
			}
		},
	}
}

// onSource queues the target a source Secret merges into.
func (c *Controller) onSource(s metav1.Object) {
	if !allowed(c.opts.SourceNamespaces, s.GetNamespace()) {
		return
	}
	if key, ok := informers.TargetKey(s); ok {
		c.merges.Add(key)
	}
}

// onManaged queues a target for repair and reflection, or a mirror's source for repair.
func (c *Controller) onManaged(s metav1.Object) {
	key := types.NamespacedName{Namespace: s.GetNamespace(), Name: s.GetName()}
	if informers.IsTarget(s) {
		c.merges.Add(key)
		c.markChanged(key)
		c.reflections.Add(key)
		return
	}

	from, ok := reflector.SourceOf(s)
	if !ok {
		return
	}
	// The cache's version, not the event's: an update is seen twice, old and new, and only
	// the mirror as it stands now tells whether it echoes our own write.
	current, exists, _ := c.inf.Managed.GetIndexer().Get(s)
	if m, ok := current.(metav1.Object); exists && ok && c.mirrorCurrent(m, from) {
		return
	}
	c.reflections.Add(from)

	// A mirror gone may free its name for a Secret that was refused it.
	if !exists {
		c.enqueueAllReflections()
	}
}

// mirrorCurrent reports whether a mirror event is the echo of a write of ours: the mirror
// already holds what its merge target holds, so its source needs no sync.
func (c *Controller) mirrorCurrent(mirror metav1.Object, from types.NamespacedName) bool {
	m, ok := mirror.(*corev1.Secret)
	target := c.managed(from)
	if !ok || target == nil || !informers.IsTarget(target) {
		return false
	}
	return m.Type == target.Type && merger.Hash(m.Type, m.Data) == target.Annotations[annotations.ContentHash]
}

// onMetadata queues Reflector-annotated Secrets and the Secrets that copy them.
func (c *Controller) onMetadata(s metav1.Object) {
	key := types.NamespacedName{Namespace: s.GetNamespace(), Name: s.GetName()}
	a := s.GetAnnotations()
	source := allowed(c.opts.SourceNamespaces, key.Namespace) && reflector.IsReflectorSource(a)
	if source || len(c.mirrorsOf(key)) > 0 {
		c.markChanged(key)
		c.reflections.Add(key)
		c.enqueuePulls(key)
	}
	if _, ok := a[annotations.ReflectorReflects]; ok && allowed(c.opts.ReflectNamespaces, key.Namespace) {
		c.pulls.Add(key)
	}
}

// enqueuePulls queues every Secret whose reflects annotation names key.
func (c *Controller) enqueuePulls(key types.NamespacedName) {
	objs, _ := c.inf.Metadata.GetIndexer().ByIndex(informers.ByReflects, key.String())
	for _, obj := range objs {
		if o, ok := obj.(metav1.Object); ok {
			c.pulls.Add(types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()})
		}
	}
}

func (c *Controller) onNamespaceUpdate(oldObj, newObj any) {
	o, okOld := oldObj.(*corev1.Namespace)
	n, okNew := newObj.(*corev1.Namespace)
	if !okOld || !okNew {
		return
	}
	if !maps.Equal(o.Labels, n.Labels) || informers.Terminating(o) != informers.Terminating(n) {
		c.enqueueAllReflections()
	}
}

// enqueueAllReflections queues every Secret that is or may be reflected, after a change
// that can move mirrors: a namespace added, relabelled or deleted, or a mirror freed.
func (c *Controller) enqueueAllReflections() {
	c.enqueueRole(c.inf.Managed, informers.RoleTarget)
	if c.inf.Metadata != nil {
		c.enqueueRole(c.inf.Metadata, informers.RoleReflectorSource)
	}
}

func (c *Controller) enqueueRole(inf cache.SharedIndexInformer, role string) {
	keys, _ := inf.GetIndexer().IndexKeys(informers.ByRole, role)
	for _, k := range keys {
		if ns, name, err := cache.SplitMetaNamespaceKey(k); err == nil {
			c.reflections.Add(types.NamespacedName{Namespace: ns, Name: name})
		}
	}
}

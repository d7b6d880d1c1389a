package controller

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"

	"github.com/tazlab/mergeflect/annotations"
)

// Step is one write a dry run found necessary.
type Step struct {
	// Action is create, update, replace (a type change), delete, or error for a sync that
	// failed.
	Action string
	// Kind is target, mirror or copy (a Secret with Reflector's reflects annotation).
	Kind   string
	Key    types.NamespacedName
	Detail string
}

// plan remembers, in a dry run, the targets that would be written, so that the reflection
// that follows sees them, and reports each step.
type plan struct {
	mu      sync.Mutex
	targets map[types.NamespacedName]*corev1.Secret
	report  func(Step)
}

// RunOnce syncs every queued merge, then every reflection, then every pull, once each, and
// returns. With Options.DryRun it is the engine of mergeflect check: nothing is stored, and
// each write the API server accepted in its dry run is reported to report.
func (c *Controller) RunOnce(ctx context.Context, report func(Step)) {
	c.plan = &plan{targets: map[types.NamespacedName]*corev1.Secret{}, report: report}
	for _, q := range []struct {
		queue workqueue.TypedRateLimitingInterface[types.NamespacedName]
		sync  func(context.Context, types.NamespacedName) error
	}{{c.merges, c.syncTarget}, {c.reflections, c.syncReflection}, {c.pulls, c.syncPull}} {
		for q.queue.Len() > 0 {
			key, _ := q.queue.Get()
			if err := q.sync(ctx, key); err != nil {
				report(Step{Action: "error", Key: key, Detail: err.Error()})
			}
			q.queue.Forget(key)
			q.queue.Done(key)
		}
	}
}

// dryRun returns the DryRun option of a write: all in a dry run, none otherwise.
func (c *Controller) dryRun() []string {
	if c.opts.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// planned records a write the API server accepted in a dry run.
func (c *Controller) planned(action string, s *corev1.Secret, detail string) {
	if c.plan == nil {
		return
	}
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	kind := "copy"
	switch {
	case s.Annotations[annotations.Sources] != "":
		kind = "target"
		if action != "delete" {
			c.plan.mu.Lock()
			c.plan.targets[key] = s
			c.plan.mu.Unlock()
			c.reflections.Add(key)
		}
	case s.Annotations[annotations.ReflectedFrom] != "":
		kind = "mirror"
		detail = fmt.Sprintf("copy of %s", s.Annotations[annotations.ReflectedFrom])
	}
	c.plan.report(Step{Action: action, Kind: kind, Key: key, Detail: detail})
}

// plannedTarget returns the target a dry run would have written, or nil.
func (c *Controller) plannedTarget(key types.NamespacedName) *corev1.Secret {
	if c.plan == nil {
		return nil
	}
	c.plan.mu.Lock()
	defer c.plan.mu.Unlock()
	return c.plan.targets[key]
}

package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/merger"
	"github.com/tazlab/mergeflect/vault"
)

// VaultReader reads the Vault values of Vault-backed sources.
type VaultReader interface {
	IdentityFor(namespace, serviceAccount, role string) vault.Identity
	Read(ctx context.Context, id vault.Identity, refs []vault.Ref) (map[string]vault.Value, error)
}

// syncVault reads a Vault-backed source's values and writes them into its data, then
// schedules the next refresh. The source's data changes only when every value was read.
func (c *Controller) syncVault(ctx context.Context, key types.NamespacedName) error {
	src := c.source(key)
	if src == nil || src.Annotations[annotations.Vault] == "" || !allowed(c.opts.SourceNamespaces, key.Namespace) {
		return nil
	}
	refs, schedule, err := vaultSpec(src)
	if err == nil && c.opts.Vault == nil {
		err = errors.New("this mergeflect runs without --vault-address")
	}
	if err != nil {
		c.warn(annotations.ReasonInvalidAnnotation, fmt.Sprintf("vault source not read: %v", err), secretRef(src))
		return nil
	}

	id := c.opts.Vault.IdentityFor(key.Namespace,
		src.Annotations[annotations.VaultServiceAccount], src.Annotations[annotations.VaultRole])
	values, err := c.opts.Vault.Read(ctx, id, refs)
	if err != nil {
		c.warn(vaultReason(err), fmt.Sprintf("vault read as %s failed; data kept: %v", id, err), secretRef(src))
		return reportedError{err}
	}
	if err := c.fill(ctx, src, values); err != nil {
		return err
	}

	// The next refresh goes through the queue like every other sync.
	c.vaults.AddAfter(key, time.Until(schedule.Next(time.Now())))
	return nil
}

// fill writes values as the source's data, with the versions they were read at, unless the
// source holds them already.
func (c *Controller) fill(ctx context.Context, src *corev1.Secret, values map[string]vault.Value) error {
	data := map[string][]byte{}
	var versions []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		data[k] = values[k].Data
		if values[k].Version != "" {
			versions = append(versions, k+"="+values[k].Version)
		}
	}
	recorded := strings.Join(versions, ",")
	c.vaultWritten.Store(types.NamespacedName{Namespace: src.Namespace, Name: src.Name},
		merger.Hash(src.Type, data))
	sameData := maps.EqualFunc(src.Data, data, func(a, b []byte) bool { return string(a) == string(b) })
	if sameData && src.Annotations[annotations.VaultVersions] == recorded {
		return nil
	}

	next := src.DeepCopy()
	next.Data = data
	next.Annotations[annotations.VaultVersions] = recorded
	if _, err := c.client.CoreV1().Secrets(src.Namespace).Update(ctx, next,
		metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update vault source %s/%s: %w", src.Namespace, src.Name, err)
	}
	c.normal(annotations.ReasonVaultSynced, fmt.Sprintf("wrote keys %s from vault (versions %s)",
		strings.Join(slices.Sorted(maps.Keys(data)), ", "), cmp.Or(recorded, "n/a")), "", secretRef(src))
	return nil
}

// wroteVault reports whether s holds the data mergeflect last wrote into it from Vault.
func (c *Controller) wroteVault(s *corev1.Secret) bool {
	hash, ok := c.vaultWritten.Load(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
	return ok && hash == merger.Hash(s.Type, s.Data)
}

// vaultSpec reads what a Vault-backed source asks for.
func vaultSpec(src *corev1.Secret) ([]vault.Ref, cron.Schedule, error) {
	refs, err := vault.ParseRefs(src.Annotations[annotations.Vault])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", annotations.Vault, err)
	}
	schedule, err := vault.ParseSchedule(src.Annotations[annotations.Refresh])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", annotations.Refresh, err)
	}
	return refs, schedule, nil
}

// vaultReason is the Event reason for an error from a Vault read.
func vaultReason(err error) string {
	switch {
	case errors.Is(err, vault.ErrDenied):
		return annotations.ReasonVaultDenied
	case errors.Is(err, vault.ErrNotFound):
		return annotations.ReasonVaultNotFound
	case errors.Is(err, vault.ErrSealed):
		return annotations.ReasonVaultSealed
	}
	return annotations.ReasonVaultUnavailable
}

// source returns the cached source Secret key, or nil. It must not be modified.
func (c *Controller) source(key types.NamespacedName) *corev1.Secret {
	obj, ok, err := c.inf.Sources.GetIndexer().GetByKey(key.String())
	if err != nil || !ok {
		return nil
	}
	s, _ := obj.(*corev1.Secret)
	return s
}

// onVaultSource queues a Vault-backed source when it appears, when its Vault settings change,
// and when its data changes to something mergeflect did not write, so that a hand edit is
// undone at once rather than at the next refresh. Our own writes need no read of Vault.
func (c *Controller) onVaultSource() cache.ResourceEventHandler {
	settings := []string{annotations.Vault, annotations.Refresh, annotations.VaultRole, annotations.VaultServiceAccount}
	enqueue := func(s *corev1.Secret) {
		if s.Annotations[annotations.Vault] != "" && allowed(c.opts.SourceNamespaces, s.Namespace) {
			c.vaults.Add(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*corev1.Secret); ok {
				enqueue(s)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(*corev1.Secret)
			n, okNew := newObj.(*corev1.Secret)
			if !okOld || !okNew {
				return
			}
			for _, k := range settings {
				if o.Annotations[k] != n.Annotations[k] {
					enqueue(n)
					return
				}
			}
			if merger.Hash(o.Type, o.Data) != merger.Hash(n.Type, n.Data) && !c.wroteVault(n) {
				enqueue(n)
			}
		},
		DeleteFunc: func(obj any) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if s, ok := obj.(*corev1.Secret); ok {
				c.vaultWritten.Delete(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
			}
		},
	}
}

// newVaultQueue retries failed reads with exponential backoff from one second to five
// minutes, with jitter, so that sources failing together do not retry together.
func newVaultQueue(provider workqueue.MetricsProvider) workqueue.TypedRateLimitingInterface[types.NamespacedName] {
	limiter := jittered{workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](
		time.Second, 5*time.Minute)}
	return workqueue.NewTypedRateLimitingQueueWithConfig[types.NamespacedName](limiter,
		workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "vault", MetricsProvider: provider})
}

type jittered struct {
	workqueue.TypedRateLimiter[types.NamespacedName]
}

func (j jittered) When(key types.NamespacedName) time.Duration {
	return wait.Jitter(j.TypedRateLimiter.When(key), 0.2)
}

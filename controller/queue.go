package controller

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"

	"github.com/tazlab/mergeflect/informers"
)

func newQueue(
	name string,
	provider workqueue.MetricsProvider,
) workqueue.TypedRateLimitingInterface[types.NamespacedName] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName](),
		workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: name, MetricsProvider: provider},
	)
}

// work syncs keys from queue until it shuts down. A failed sync is retried with backoff.
func (c *Controller) work(
	ctx context.Context,
	name string,
	queue workqueue.TypedRateLimitingInterface[types.NamespacedName],
	sync func(context.Context, types.NamespacedName) error,
) {
	for {
		key, shutdown := queue.Get()
		if shutdown {
			return
		}

		start := time.Now()
		err := sync(ctx, key)
		c.metrics.SyncDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		c.settle(ctx, name, queue, key, err)
		c.countManaged()
		queue.Done(key)
	}
}

// settle forgets a key whose sync succeeded and schedules a retry of one that failed.
func (c *Controller) settle(
	ctx context.Context,
	name string,
	queue workqueue.TypedRateLimitingInterface[types.NamespacedName],
	key types.NamespacedName,
	err error,
) {
	log := c.log.With().Str("controller", name).Str("namespace", key.Namespace).Str("secret", key.Name).Logger()
	switch {
	case err == nil:
		queue.Forget(key)
	case ctx.Err() != nil:
		// Shutting down: the work is abandoned and the next leader picks it up.
		queue.Forget(key)
	case errors.As(err, new(reportedError)):
		log.Debug().Err(err).Msg("retrying after a reported failure")
		queue.AddRateLimited(key)
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		// Someone wrote first, or our cache is behind: retry quietly with fresh state.
		log.Debug().Err(err).Msg("retrying after a write conflict")
		queue.AddRateLimited(key)
	default:
		log.Warn().Err(err).Int("retries", queue.NumRequeues(key)).Msg("sync failed; retrying")
		queue.AddRateLimited(key)
	}
}

// reportedError is a failure already reported as an Event and a log line; the queue retries
// it without logging it again.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

// countManaged sets the gauges of managed targets and mirrors from the cache.
func (c *Controller) countManaged() {
	for _, role := range []string{informers.RoleTarget, informers.RoleMirror} {
		keys, _ := c.inf.Managed.GetIndexer().IndexKeys(informers.ByRole, role)
		c.metrics.ManagedSecrets.WithLabelValues(role).Set(float64(len(keys)))
	}
}

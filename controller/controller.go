// Package controller keeps merge targets and their mirrors in step with the cluster. Three
// work queues share one worker loop: merge keys (a target's namespace/name), reflect keys (a
// reflected Secret's namespace/name) and pull keys (a Secret that asks, in Reflector's
// format, to copy another). Informer handlers only enqueue keys; every API call happens in
// a sync, with the caller's context. A fourth queue refreshes Vault-backed sources on their
// schedules.
package controller

import (
	"context"
	"regexp"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/tazlab/mergeflect/informers"
	"github.com/tazlab/mergeflect/metrics"
)

// Options tunes the controllers.
type Options struct {
	// Workers is the number of keys each queue syncs at once.
	Workers int
	// FanOut is the number of mirror writes one reflection sends at once.
	FanOut int
	// Vault reads the values of Vault-backed sources; nil leaves such sources unread and
	// reported.
	Vault VaultReader
	// ConflictRetry is how often a name held by a Secret that is not ours is tried again.
	// The holder is not watched (mergeflect watches only its own Secrets), so its removal
	// is noticed this way.
	ConflictRetry time.Duration
	// SourceNamespaces, when set, limits the namespaces whose Secrets are merged, reflected
	// or read from Vault; Secrets elsewhere are ignored.
	SourceNamespaces []*regexp.Regexp
	// ReflectNamespaces, when set, limits the namespaces mirrors and copies are written to.
	ReflectNamespaces []*regexp.Regexp
	// DryRun sends every write as a server-side dry run: validated, never stored.
	DryRun bool
	// Grace is how long a transient refusal (a missing sibling, a key that does not match
	// its certificate yet) may last before it is reported.
	Grace time.Duration
}

// Controller runs the merge, reflect and pull syncs over a shared informer set.
type Controller struct {
	client  kubernetes.Interface
	inf     *informers.Set
	events  record.EventRecorder
	metrics *metrics.Metrics
	log     zerolog.Logger
	opts    Options

	merges      workqueue.TypedRateLimitingInterface[types.NamespacedName]
	reflections workqueue.TypedRateLimitingInterface[types.NamespacedName]
	pulls       workqueue.TypedRateLimitingInterface[types.NamespacedName]
	vaults      workqueue.TypedRateLimitingInterface[types.NamespacedName]

	refusals  *refusals
	conflicts lastReports

	// vaultWritten holds, per Vault-backed source, the content hash mergeflect last wrote.
	vaultWritten sync.Map
	plan         *plan

	handlersSynced []cache.InformerSynced

	// changed records when a reflected Secret's change was first seen, for the
	// propagation histogram.
	changedMu sync.Mutex
	changed   map[types.NamespacedName]time.Time
}

// New creates the controller and registers its handlers on inf. Keys are queued from then
// on, but nothing is written until Run.
func New(
	client kubernetes.Interface,
	inf *informers.Set,
	events record.EventRecorder,
	m *metrics.Metrics,
	queueMetrics workqueue.MetricsProvider,
	log zerolog.Logger,
	opts Options,
) (*Controller, error) {
	c := &Controller{
		client:      client,
		inf:         inf,
		events:      events,
		metrics:     m,
		log:         log,
		opts:        opts,
		merges:      newQueue("merge", queueMetrics),
		reflections: newQueue("reflect", queueMetrics),
		pulls:       newQueue("pull", queueMetrics),
		vaults:      newVaultQueue(queueMetrics),
		refusals:    newRefusals(m.TargetsRefused),
		conflicts:   lastReports{last: map[types.NamespacedName]string{}},
		changed:     map[types.NamespacedName]time.Time{},
	}
	if err := c.registerHandlers(); err != nil {
		return nil, err
	}
	return c, nil
}

// allowed reports whether patterns, when set, let namespace in.
func allowed(patterns []*regexp.Regexp, namespace string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, re := range patterns {
		if re.MatchString(namespace) {
			return true
		}
	}
	return false
}

// Run syncs keys until ctx is done, then drains the queues' workers and returns. The
// informers must have synced before Run is called.
func (c *Controller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	loops := []struct {
		name  string
		queue workqueue.TypedRateLimitingInterface[types.NamespacedName]
		sync  func(context.Context, types.NamespacedName) error
	}{
		{"merge", c.merges, c.syncTarget},
		{"reflect", c.reflections, c.syncReflection},
		{"pull", c.pulls, c.syncPull},
		{"vault", c.vaults, c.syncVault},
	}

	for _, l := range loops {
		for range max(c.opts.Workers, 1) {
			wg.Go(func() { c.work(ctx, l.name, l.queue, l.sync) })
		}
	}
	c.log.Info().Int("workers", c.opts.Workers).Msg("controllers started")

	<-ctx.Done()
	for _, l := range loops {
		l.queue.ShutDown()
	}
	wg.Wait()
	c.log.Info().Msg("controllers stopped")
}

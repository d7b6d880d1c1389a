// Package election runs a function only while this replica holds a coordination.k8s.io
// Lease, so that of several replicas, all with warm caches, exactly one writes.
package election

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// ErrLeadershipLost is returned when this replica stopped leading before its context ended.
// The caller should exit, so that it restarts with fresh state as a candidate.
var ErrLeadershipLost = errors.New("election: leadership lost")

// Options names the Lease and its timing.
type Options struct {
	Enabled   bool
	Namespace string
	Name      string

	// LeaseDuration, RenewDeadline and RetryPeriod time the election as client-go does.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// Run calls lead once this replica holds the Lease, with a context that ends when it loses
// it, and returns after lead has returned. With election disabled, lead runs at once.
// leader is set to 1 while this replica leads.
func Run(
	ctx context.Context,
	client kubernetes.Interface,
	opts Options,
	leader prometheus.Gauge,
	log zerolog.Logger,
	lead func(context.Context),
) error {
	if !opts.Enabled {
		leader.Set(1)
		lead(ctx)
		return nil
	}

	identity, err := identity()
	if err != nil {
		return err
	}
	var started atomic.Bool
	led := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.Name},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
		},
		LeaseDuration:   opts.LeaseDuration,
		RenewDeadline:   opts.RenewDeadline,
		RetryPeriod:     opts.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            opts.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				started.Store(true)
				defer close(led)
				leader.Set(1)
				log.Info().Str("identity", identity).Msg("leading")
				lead(ctx)
			},
			OnStoppedLeading: func() { leader.Set(0) },
			OnNewLeader: func(id string) {
				log.Info().Str("leader", id).Msg("leader elected")
			},
		},
	})
	if err != nil {
		return fmt.Errorf("create leader elector: %w", err)
	}

	log.Info().Str("identity", identity).Str("namespace", opts.Namespace).Str("lease", opts.Name).
		Msg("waiting for leadership")
	elector.Run(ctx)
	if started.Load() {
		// The Lease is released; let the last syncs end before returning.
		<-led
	}
	if ctx.Err() == nil {
		return ErrLeadershipLost
	}
	return nil
}

func identity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("read hostname for the leader identity: %w", err)
	}
	return host + "_" + rand.String(6), nil
}

// Package daemon runs mergeflect: it starts the informers, serves metrics and probes, waits
// for the caches to sync and runs the controllers until its context ends.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"

	"github.com/tazlab/mergeflect/controller"
	"github.com/tazlab/mergeflect/election"
	"github.com/tazlab/mergeflect/informers"
	"github.com/tazlab/mergeflect/metrics"
	"github.com/tazlab/mergeflect/vault"
)

// Config is everything Run needs besides the clients.
type Config struct {
	MetricsAddr string
	ProbeAddr   string
	Informers   informers.Options
	Controller  controller.Options
	Election    election.Options
	// Vault configures Vault-backed sources; an empty Address leaves them unread.
	Vault   vault.Config
	Version string
}

// Clients are the API clients the daemon works through.
type Clients struct {
	Kube     kubernetes.Interface
	Metadata metadata.Interface
}

// Run runs the daemon until ctx is done. It returns an error if it cannot start.
func Run(ctx context.Context, cfg Config, clients Clients, reg *prometheus.Registry, log zerolog.Logger) error {
	m := metrics.New(reg, cfg.Version)
	inf, err := informers.New(clients.Kube, clients.Metadata, cfg.Informers)
	if err != nil {
		return err
	}

	if cfg.Vault.Address != "" {
		reader, err := vault.NewReader(cfg.Vault, clients.Kube, m.VaultRequests,
			log.With().Str("component", "vault").Logger())
		if err != nil {
			return err
		}
		defer reader.Close()
		cfg.Controller.Vault = reader
	}

	recorder, stopEvents := newRecorder(ctx, clients.Kube)
	defer stopEvents()
	ctrl, err := controller.New(clients.Kube, inf, recorder, m, metrics.NewQueueMetrics(reg),
		log.With().Str("component", "controller").Logger(), cfg.Controller)
	if err != nil {
		return err
	}

	var ready atomic.Bool
	servers, err := serve(ctx, cfg, reg, &ready, log)
	if err != nil {
		return err
	}
	defer servers()

	inf.Start(ctx)
	if !inf.WaitForSync(ctx) {
		return fmt.Errorf("wait for informer caches: %w", context.Cause(ctx))
	}
	ready.Store(true)
	log.Info().Msg("caches synced")

	return election.Run(ctx, clients.Kube, cfg.Election, m.Leader,
		log.With().Str("component", "election").Logger(), ctrl.Run)
}

// newRecorder returns an Event recorder. Its broadcaster counts repeats of an Event in the
// Event itself, folds similar ones together, and lets each object have a burst of
// eventBurst Events and then one every eventRefill, so that a flapping source cannot flood
// the API server with Events.
func newRecorder(ctx context.Context, client kubernetes.Interface) (record.EventRecorder, func()) {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx), record.WithCorrelatorOptions(
		record.CorrelatorOptions{BurstSize: eventBurst, QPS: float32(1 / eventRefill.Seconds())}))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "mergeflect"})
	return recorder, broadcaster.Shutdown
}

// Event rate limits per object; see newRecorder.
const (
	eventBurst  = 25
	eventRefill = 5 * time.Minute
)

// serve starts the metrics and probe servers and returns a function that stops them.
func serve(
	ctx context.Context,
	cfg Config,
	reg *prometheus.Registry,
	ready *atomic.Bool,
	log zerolog.Logger) (func(),
	error,
) {
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	probeMux := http.NewServeMux()
	probeMux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	probeMux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "caches not synced", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	var servers []*http.Server
	for _, s := range []struct {
		addr    string
		handler http.Handler
	}{{cfg.MetricsAddr, metricsMux}, {cfg.ProbeAddr, probeMux}} {
		if s.addr == "" || s.addr == "0" {
			continue
		}
		srv := &http.Server{Addr: s.addr, Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
		ln, err := listen(ctx, s.addr)
		if err != nil {
			stopAll(servers)
			return nil, err
		}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Str("address", s.addr).Msg("http server stopped")
			}
		}()
		log.Info().Str("address", ln.Addr().String()).Msg("serving")
		servers = append(servers, srv)
	}
	return func() { stopAll(servers) }, nil
}

func stopAll(servers []*http.Server) {
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
}

func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

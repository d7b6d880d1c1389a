// Package metrics defines the Prometheus metrics mergeflect exports. They live in a Metrics
// value registered on a registry the caller passes in, never on the global one.
//
// Every metric and its labels:
//
//	mergeflect_build_info{version, goversion}
//	    gauge, always 1
//	mergeflect_merges_total{result}
//	    counter; result is written, unchanged or refused
//	mergeflect_reflections_total{result}
//	    counter; result is created, updated, deleted, conflict or failed
//	mergeflect_errors_total{reason}
//	    counter; reason is an Event reason such as KeyMismatch
//	mergeflect_targets_refused
//	    gauge; targets whose latest merge was refused and reported
//	mergeflect_managed_secrets{kind}
//	    gauge; kind is target or mirror
//	mergeflect_certificate_expiry_timestamp_seconds{namespace, name}
//	    gauge; not-after of the leaf certificate of each managed TLS target
//	mergeflect_sync_duration_seconds{controller}
//	    histogram; controller is merge, reflect or pull
//	mergeflect_propagation_seconds
//	    histogram; from a reflected Secret's change seen to its last mirror written
//	mergeflect_leader
//	    gauge; 1 while this replica leads and writes, else 0
//	mergeflect_vault_requests_total{operation, result}
//	    counter; operation is login, read or renew; result is ok, denied, unavailable,
//	    sealed, not_found or error
//	mergeflect_workqueue_depth{name}, mergeflect_workqueue_adds_total{name},
//	mergeflect_workqueue_retries_total{name},
//	mergeflect_workqueue_queue_duration_seconds{name},
//	mergeflect_workqueue_work_duration_seconds{name},
//	mergeflect_workqueue_unfinished_work_seconds{name},
//	mergeflect_workqueue_longest_running_processor_seconds{name}
//	    the work queues' own metrics; name is merge, reflect or pull
//
// No label carries Secret data; the certificate expiry is the one per-Secret series.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "mergeflect"

// Results of a merge, used as the result label of MergesTotal.
const (
	MergeWritten   = "written"
	MergeUnchanged = "unchanged"
	MergeRefused   = "refused"
)

// Results of one mirror write, used as the result label of ReflectionsTotal.
const (
	MirrorCreated  = "created"
	MirrorUpdated  = "updated"
	MirrorDeleted  = "deleted"
	MirrorConflict = "conflict"
	MirrorFailed   = "failed"
)

// Metrics holds every metric mergeflect exports.
type Metrics struct {
	MergesTotal       *prometheus.CounterVec
	ReflectionsTotal  *prometheus.CounterVec
	ErrorsTotal       *prometheus.CounterVec
	TargetsRefused    prometheus.Gauge
	ManagedSecrets    *prometheus.GaugeVec
	CertificateExpiry *prometheus.GaugeVec
	SyncDuration      *prometheus.HistogramVec
	Propagation       prometheus.Histogram
	Leader            prometheus.Gauge
	VaultRequests     *prometheus.CounterVec
}

// New creates the metrics and registers them, with the Go and process collectors, on reg.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		MergesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "merges_total",
			Help: "Merges of sibling Secrets into a target, by result.",
		}, []string{"result"}),
		ReflectionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reflections_total",
			Help: "Mirror writes, by result.",
		}, []string{"result"}),
		ErrorsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "errors_total",
			Help: "Reported refusals and failures, by Event reason.",
		}, []string{"reason"}),
		TargetsRefused: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "targets_refused",
			Help: "Targets whose latest merge was refused and reported; each keeps its last good version.",
		}),
		ManagedSecrets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "managed_secrets",
			Help: "Secrets written and kept by mergeflect, by kind (target or mirror).",
		}, []string{"kind"}),
		CertificateExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "certificate_expiry_timestamp_seconds",
			Help: "Not-after time of the leaf certificate of each managed TLS target, in Unix seconds.",
		}, []string{"namespace", "name"}),
		SyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "sync_duration_seconds",
			Help:    "Time one sync of a key takes, by controller.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"controller"}),
		Propagation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "propagation_seconds",
			Help:    "Time from a change of a reflected Secret being seen to its last mirror written.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 9),
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "leader",
			Help: "1 while this replica holds the leader Lease and writes, else 0.",
		}),
		VaultRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "vault_requests_total",
			Help: "Requests to Vault, by operation and result.",
		}, []string{"operation", "result"}),
	}

	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)

	// Every bounded label value starts at 0, so that rate() and the alerts see each series
	// before its first increment.
	for _, result := range []string{MergeWritten, MergeUnchanged, MergeRefused} {
		m.MergesTotal.WithLabelValues(result)
	}
	for _, result := range []string{MirrorCreated, MirrorUpdated, MirrorDeleted, MirrorConflict, MirrorFailed} {
		m.ReflectionsTotal.WithLabelValues(result)
	}
	for _, op := range []string{"login", "read", "renew"} {
		for _, result := range []string{"ok", "denied", "unavailable", "sealed", "not_found", "error"} {
			m.VaultRequests.WithLabelValues(op, result)
		}
	}

	reg.MustRegister(m.MergesTotal, m.ReflectionsTotal, m.ErrorsTotal, m.TargetsRefused,
		m.ManagedSecrets, m.CertificateExpiry, m.SyncDuration, m.Propagation, m.Leader, m.VaultRequests, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

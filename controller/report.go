package controller

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/merger"
)

// refusal is the state of a target whose merges are being refused.
type refusal struct {
	since    time.Time
	reason   string
	message  string
	reported bool
}

// refusals tracks refused targets, so that a transient refusal is reported only once it has
// lasted the grace period, and a reported one only once per change of its cause.
type refusals struct {
	mu      sync.Mutex
	targets map[types.NamespacedName]*refusal
	gauge   prometheus.Gauge
}

func newRefusals(gauge prometheus.Gauge) *refusals {
	return &refusals{targets: map[types.NamespacedName]*refusal{}, gauge: gauge}
}

// observe records a refusal of key at now. It returns whether the refusal should be
// reported now and, if not, how long to wait before looking again.
func (r *refusals) observe(
	key types.NamespacedName,
	err *merger.Error,
	grace time.Duration,
	now time.Time) (bool,
	time.Duration,
) {
	r.mu.Lock()
	defer r.mu.Unlock()

	state, ok := r.targets[key]
	if !ok {
		state = &refusal{since: now}
		r.targets[key] = state
	}
	changed := state.reason != err.Reason || state.message != err.Error()
	state.reason, state.message = err.Reason, err.Error()

	if err.Transient && now.Sub(state.since) < grace {
		return false, grace - now.Sub(state.since)
	}
	report := changed || !state.reported
	state.reported = true
	r.updateGauge()
	return report, 0
}

// clear forgets key's refusal after a good merge, or after its sources are all gone.
func (r *refusals) clear(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.targets, key)
	r.updateGauge()
}

func (r *refusals) updateGauge() {
	n := 0
	for _, state := range r.targets {
		if state.reported {
			n++
		}
	}
	r.gauge.Set(float64(n))
}

// lastReports remembers, per key, the last message of a problem reported, so that a lasting
// problem is reported once per change of its cause.
type lastReports struct {
	mu   sync.Mutex
	last map[types.NamespacedName]string
}

// changed records whether key has the problem message now, and reports whether that is news.
func (l *lastReports) changed(key types.NamespacedName, present bool, message string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !present {
		delete(l.last, key)
		return false
	}
	if l.last[key] == message {
		return false
	}
	l.last[key] = message
	return true
}

// warn reports a problem where the user looks: a Warning Event on each object, a log line
// and the error counter. message names objects and keys, never data.
func (c *Controller) warn(reason, message string, objects ...*corev1.ObjectReference) {
	for _, obj := range objects {
		c.events.Event(obj, corev1.EventTypeWarning, reason, message)
	}
	ev := c.log.Warn().Str("reason", reason)
	if len(objects) > 0 {
		ev = ev.Str("namespace", objects[0].Namespace).Str("secret", objects[0].Name)
	}
	ev.Msg(message)
	c.metrics.ErrorsTotal.WithLabelValues(reason).Inc()
}

// normal records a successful change as a Normal Event and an Info log line. The content
// hash, when there is one, goes to the log only: Events are often readable by people who
// may not read the Secret, and a short hash could confirm a guess of a short value.
func (c *Controller) normal(reason, message, hash string, obj *corev1.ObjectReference) {
	c.events.Event(obj, corev1.EventTypeNormal, reason, message)
	ev := c.log.Info().Str("reason", reason).Str("namespace", obj.Namespace).Str("secret", obj.Name)
	if hash != "" {
		ev = ev.Str("contentHash", hash)
	}
	ev.Msg(message)
}

// secretRef refers to a Secret for an Event, from a full object or from metadata alone.
func secretRef(obj metav1.Object) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind:            "Secret",
		APIVersion:      "v1",
		Namespace:       obj.GetNamespace(),
		Name:            obj.GetName(),
		UID:             obj.GetUID(),
		ResourceVersion: obj.GetResourceVersion(),
	}
}

// asRefusal turns any error from the merger into a *merger.Error.
func asRefusal(err error) *merger.Error {
	var refused *merger.Error
	if errors.As(err, &refused) {
		return refused
	}
	return &merger.Error{Reason: annotations.ReasonInvalidAnnotation, Err: err}
}

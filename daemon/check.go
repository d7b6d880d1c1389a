package daemon

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/tazlab/mergeflect/controller"
	"github.com/tazlab/mergeflect/informers"
	"github.com/tazlab/mergeflect/metrics"
)

// Check reads the cluster as the daemon would and writes to out, without storing anything,
// each target and mirror the daemon would create, update or delete, and every problem it
// would report. Writes go to the API server as dry runs, so that its validation applies.
// It returns the number of problems found.
func Check(ctx context.Context, cfg Config, clients Clients, out io.Writer) (int, error) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, cfg.Version)
	inf, err := informers.New(clients.Kube, clients.Metadata, cfg.Informers)
	if err != nil {
		return 0, err
	}

	events := &collector{}
	opts := cfg.Controller
	opts.DryRun, opts.Grace, opts.Vault = true, 0, nil
	ctrl, err := controller.New(clients.Kube, inf, events, m, metrics.NewQueueMetrics(reg), zerolog.Nop(), opts)
	if err != nil {
		return 0, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	inf.Start(ctx)
	if !inf.WaitForSync(ctx) || !cache.WaitForCacheSync(ctx.Done(), ctrl.HasSynced) {
		return 0, fmt.Errorf("read the cluster: %w", context.Cause(ctx))
	}

	var steps []controller.Step
	ctrl.RunOnce(ctx, func(s controller.Step) { steps = append(steps, s) })
	return report(out, steps, events.warnings()), nil
}

// report prints the steps and problems, sorted, and returns the number of problems.
func report(out io.Writer, steps []controller.Step, problems []problem) int {
	slices.SortFunc(steps, func(a, b controller.Step) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key.String(), b.Key.String()))
	})
	slices.SortFunc(problems, func(a, b problem) int {
		return cmp.Or(cmp.Compare(a.object, b.object), cmp.Compare(a.reason, b.reason))
	})

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	failures := 0
	for _, s := range steps {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Action, s.Kind, s.Key, s.Detail)
		if s.Action == "error" {
			failures++
		}
	}
	for _, p := range problems {
		fmt.Fprintf(w, "problem\t%s\t%s\t%s\n", p.reason, p.object, p.message)
	}
	if len(steps) == 0 && len(problems) == 0 {
		fmt.Fprintln(w, "nothing to do: every target and mirror is up to date")
	}
	_ = w.Flush()
	return failures + len(problems)
}

type problem struct {
	object, reason, message string
}

// collector is an EventRecorder that keeps Warning Events in memory instead of sending them.
type collector struct {
	mu       sync.Mutex
	problems []problem
}

func (c *collector) Event(obj runtime.Object, eventType, reason, message string) {
	if eventType != corev1.EventTypeWarning {
		return
	}
	name := "?"
	if ref, ok := obj.(*corev1.ObjectReference); ok {
		name = ref.Namespace + "/" + ref.Name
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, problem{object: name, reason: reason, message: message})
}

func (c *collector) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	c.Event(obj, eventType, reason, fmt.Sprintf(format, args...))
}

func (c *collector) AnnotatedEventf(
	obj runtime.Object, _ map[string]string, eventType, reason, format string, args ...any,
) {
	c.Eventf(obj, eventType, reason, format, args...)
}

// warnings returns the problems once, without repeats of the same one.
func (c *collector) warnings() []problem {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[problem]bool{}
	var out []problem
	for _, p := range c.problems {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

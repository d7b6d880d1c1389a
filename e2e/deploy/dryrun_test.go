package deploy

import (
	"errors"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// coreKinds are what the chart renders with its default values.
var coreKinds = []string{
	"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"Deployment", "Service", "PodDisruptionBudget",
}

// TestChartDryRun renders the chart with its default values and with every toggle on, checks
// that each renders the kinds it should, and has the API server validate every object.
func TestChartDryRun(t *testing.T) {
	t.Parallel()
	full := append(slices.Clone(coreKinds), "ServiceMonitor")
	var fullAbsent []string
	// The chart renders these only while another part of the repository provides the file.
	optional := map[string]string{"rules.yaml": "PrometheusRule", "dashboard.json": "ConfigMap"}
	for file, kind := range optional {
		if _, err := os.Stat(chartDir + "/files/" + file); err == nil {
			full = append(full, kind)
		} else {
			fullAbsent = append(fullAbsent, kind)
		}
	}

	tests := []struct {
		name       string
		release    string
		values     []string
		wantKinds  []string
		wantAbsent []string
	}{
		{
			name:       "default values",
			release:    "dryrun-default",
			wantKinds:  coreKinds,
			wantAbsent: []string{"ServiceMonitor", "PrometheusRule", "ConfigMap"},
		},
		{
			name:       "every toggle on",
			release:    "dryrun-full",
			values:     []string{fullValues},
			wantKinds:  full,
			wantAbsent: fullAbsent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			objs := renderChart(t, tt.release, tt.release+"-system", tt.values...)
			for _, kind := range tt.wantKinds {
				if len(ofKind(objs, kind)) == 0 {
					t.Errorf("the chart rendered no %s", kind)
				}
			}
			for _, kind := range tt.wantAbsent {
				if n := len(ofKind(objs, kind)); n > 0 {
					t.Errorf("the chart rendered %d objects of kind %s, want none", n, kind)
				}
			}
			ensureNamespaces(t, objs)
			dryRunAll(t, objs)
		})
	}
}

// TestKustomizeBase checks that the committed base is what the chart renders with its
// default values, and that the API server accepts it.
func TestKustomizeBase(t *testing.T) {
	t.Parallel()
	base := decode(t, command(t, kubectl, "kustomize", kustomizeBase))
	chart := renderChart(t, "mergeflect", "mergeflect-system")

	byKey := func(objs []*unstructured.Unstructured) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, o := range objs {
			m[o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName()] = o.Object
		}
		return m
	}
	if !reflect.DeepEqual(byKey(base), byKey(chart)) {
		t.Errorf("%s differs from the chart rendered with its default values; run make manifests",
			kustomizeBase)
	}

	ensureNamespaces(t, base)
	dryRunAll(t, base)
}

// dryRunAll creates every object with a server-side dry run. Only the kinds of crdKinds may
// be unknown to the API server; they are left out.
func dryRunAll(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, obj := range objs {
		err := create(t.Context(), obj, true)
		switch {
		case err == nil:
		case meta.IsNoMatchError(err) && crdKinds[obj.GetKind()]:
			t.Logf("%s %s: its CRD is not installed; not sent", obj.GetKind(), obj.GetName())
		default:
			t.Errorf("the API server rejects the chart's %s: %v", obj.GetKind(), err)
		}
	}
}

// flagName matches a flag in the usage that the flag package prints.
var flagName = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)

// TestChartFlagsAreDefined checks that mergeflect defines every flag the chart passes, with
// every setting on: a flag it does not know stops it at start.
func TestChartFlagsAreDefined(t *testing.T) {
	t.Parallel()
	usage, err := exec.CommandContext(t.Context(), daemon, "-h").CombinedOutput()
	// The flag package prints the usage and exits 0 on -h; any exit status is fine here.
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run mergeflect -h: %v", err)
	}
	defined := map[string]bool{}
	for _, m := range flagName.FindAllSubmatch(usage, -1) {
		defined[string(m[1])] = true
	}
	if !defined["kubeconfig"] {
		t.Fatalf("found no flags in the usage of mergeflect:\n%s", usage)
	}

	for _, values := range [][]string{nil, {fullValues}} {
		deployment := only(t, renderChart(t, "flags", "flags-system", values...), "Deployment")
		for _, arg := range containerArgs(t, deployment) {
			name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if !defined[name] {
				t.Errorf("the chart (values %v) passes %s, which mergeflect does not define", values, arg)
			}
		}
	}
}

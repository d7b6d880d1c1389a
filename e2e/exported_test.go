package e2e

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tazlab/mergeflect/annotations"
)

// dumpEnv names the file TestExportedMetricNames writes the exported metric families to, one
// a line with its type, for `make promql-check` to check the dashboards and alerts against.
const dumpEnv = "MERGEFLECT_METRICS_DUMP"

// TestExportedMetricNames checks that, once the daemon has merged, reflected and reported a
// problem, it exports exactly the mergeflect metrics its metrics package documents.
func TestExportedMetricNames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	documented, err := documentedMetrics("../metrics/metrics.go")
	if err != nil {
		t.Fatal(err)
	}

	// A vector has no series, and is not exported at all, until a label value is used: have
	// the daemon merge a TLS target, reflect it and report an invalid annotation.
	s := newSeed(t)
	eventually(t, timeout, func() error { return s.converged(ctx, s.pair) })
	createSource(t, source{
		ns: s.ns, name: "bad", target: "bad-target",
		annotations: map[string]string{annotations.Keys: "value"},
		data:        map[string][]byte{"value": []byte("x")},
	})
	eventually(t, timeout, func() error { return hasEvent(ctx, s.ns, "bad", annotations.ReasonInvalidAnnotation) })

	var families map[string]string
	eventually(t, timeout, func() error {
		if families, err = scrapeFamilies(ctx); err != nil {
			return err
		}
		return sameMetrics(documented, families)
	})

	if path := os.Getenv(dumpEnv); path != "" {
		var dump strings.Builder
		for _, name := range slices.Sorted(maps.Keys(families)) {
			fmt.Fprintf(&dump, "%s %s\n", name, families[name])
		}
		if err := os.WriteFile(path, []byte(dump.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// metricName matches our metric names wherever the metrics package doc mentions them.
var metricName = regexp.MustCompile(`\bmergeflect_[a-z0-9_]+`)

// documentedMetrics returns the metric names the package doc comment of the Go file at path
// lists.
func documentedMetrics(path string) ([]string, error) {
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		return nil, err
	}
	if file.Doc == nil {
		return nil, fmt.Errorf("%s has no package doc", path)
	}
	names := metricName.FindAllString(file.Doc.Text(), -1)
	if len(names) == 0 {
		return nil, fmt.Errorf("the package doc of %s names no metric", path)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// scrapeFamilies scrapes the daemon and returns the type of every metric family it exports,
// by name, as its # TYPE lines give them.
func scrapeFamilies(ctx context.Context) (map[string]string, error) {
	body, err := daemon.Scrape(ctx)
	if err != nil {
		return nil, err
	}

	families := map[string]string{}
	for line := range strings.SplitSeq(body, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 4 && fields[0] == "#" && fields[1] == "TYPE" {
			families[fields[2]] = fields[3]
		}
	}
	return families, nil
}

// sameMetrics reports the documented metrics the daemon does not export, and the mergeflect
// metrics it exports that are not documented.
func sameMetrics(documented []string, families map[string]string) error {
	var problems []string
	for _, name := range documented {
		if _, ok := families[name]; !ok {
			problems = append(problems, name+" is documented but not exported")
		}
	}
	for name := range families {
		if strings.HasPrefix(name, "mergeflect_") && !slices.Contains(documented, name) {
			problems = append(problems, name+" is exported but not documented in metrics/metrics.go")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("metrics differ from their documentation:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// exported maps each metric family the daemon exports to its type ("" when not given).
type exported map[string]string

// synthetic are the series Prometheus itself writes for every target and alert.
var synthetic = []string{"up", "ALERTS"}

// readExported reads the metrics file: a family name a line, optionally followed by its type.
func readExported(path string) (exported, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metric names: %w", err)
	}
	defer f.Close()

	known := exported{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		known[fields[0]] = ""
		if len(fields) > 1 {
			known[fields[0]] = fields[1]
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read metric names %s: %w", path, err)
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("read metric names %s: the file names no metric", path)
	}
	return known, nil
}

// series returns every series name the exported families produce.
func (e exported) series() []string {
	names := slices.Clone(synthetic)
	for name, kind := range e {
		names = append(names, name)
		switch kind {
		case "histogram":
			names = append(names, name+"_bucket", name+"_sum", name+"_count")
		case "summary":
			names = append(names, name+"_sum", name+"_count")
		}
	}
	return names
}

// check parses expr and returns an error if it does not parse or selects a metric that is
// not exported.
func (e exported) check(expr string) error {
	ast, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}

	series := e.series()
	var unknown []string
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && !slices.ContainsFunc(series, m.Matches) {
				unknown = append(unknown, m.String())
			}
		}
		return nil
	})
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return errors.New("selects metrics not exported: " + strings.Join(slices.Compact(unknown), ", "))
	}
	return nil
}

// Command promqlcheck checks every PromQL expression of a Prometheus rules file and a Grafana
// dashboard against the metric names a daemon exports: each expression must parse, and each
// metric it selects must be one of the exported ones. It lists every problem it finds and
// exits 1 if there is any.
//
//	promqlcheck -metrics names.txt -rules rules.yaml -dashboard dashboard.json
//
// The metrics file holds one metric family a line: its name, optionally followed by its type
// as the exposition format's # TYPE line gives it. A histogram's _bucket, _sum and _count
// series and a summary's _sum and _count count as exported; so do the series Prometheus
// makes itself, up and ALERTS, and the names the rules file records.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	metricsPath := flag.String("metrics", "", "file of exported metric names, one a line (required)")
	rulesPath := flag.String("rules", "", "Prometheus rules file to check")
	dashboardPath := flag.String("dashboard", "", "Grafana dashboard JSON file to check")
	flag.Parse()
	if *metricsPath == "" || (*rulesPath == "" && *dashboardPath == "") {
		fmt.Fprintln(os.Stderr, "usage: promqlcheck -metrics FILE [-rules FILE] [-dashboard FILE]")
		os.Exit(2)
	}

	problems, checked, err := run(*metricsPath, *rulesPath, *dashboardPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "promqlcheck:", err)
		os.Exit(2)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "promqlcheck: %d of %d expressions have problems:\n", len(problems), checked)
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "  "+p)
		}
		os.Exit(1)
	}
	fmt.Printf("promqlcheck: %d expressions parse and select only exported metrics\n", checked)
}

// run reads the three files and returns a line for each expression with a problem, and how
// many expressions it checked.
func run(metricsPath, rulesPath, dashboardPath string) ([]string, int, error) {
	known, err := readExported(metricsPath)
	if err != nil {
		return nil, 0, err
	}

	var queries []query
	if rulesPath != "" {
		rules, recorded, err := readRules(rulesPath)
		if err != nil {
			return nil, 0, err
		}
		queries = append(queries, rules...)
		for _, name := range recorded {
			known[name] = "recorded"
		}
	}
	if dashboardPath != "" {
		panels, err := readDashboard(dashboardPath)
		if err != nil {
			return nil, 0, err
		}
		queries = append(queries, panels...)
	}

	var problems []string
	for _, q := range queries {
		if err := known.check(q.expanded); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v\n      %s", q.where, err, strings.TrimSpace(q.expr)))
		}
	}
	return problems, len(queries), nil
}

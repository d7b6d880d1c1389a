package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// query is one PromQL expression and where it was found. A dashboard's expressions are
// checked with Grafana's variables expanded, and reported as written.
type query struct {
	where    string
	expr     string
	expanded string
}

// ruleFile is the part of a Prometheus rules file that holds expressions.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// readRules returns the expression of every rule in the file at path, and the names its
// recording rules record.
func readRules(path string) ([]query, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read rules: %w", err)
	}
	var file ruleFile
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, nil, fmt.Errorf("read rules %s: %w", path, err)
	}

	var queries []query
	var recorded []string
	for _, g := range file.Groups {
		for i, r := range g.Rules {
			name := fmt.Sprintf("rule %d", i+1)
			switch {
			case r.Alert != "":
				name = "alert " + r.Alert
			case r.Record != "":
				name = "record " + r.Record
				recorded = append(recorded, r.Record)
			}
			where := fmt.Sprintf("%s, group %s, %s", filepath.Base(path), g.Name, name)
			queries = append(queries, query{where: where, expr: r.Expr, expanded: r.Expr})
		}
	}
	return queries, recorded, nil
}

// dashboard is the part of a Grafana dashboard's JSON model that holds queries.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// panel is a panel, or a row whose panels are nested because it is collapsed.
type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			Type string `json:"type"`
		} `json:"datasource"`
	} `json:"targets"`
}

// readDashboard returns every Prometheus query of the dashboard at path: its panels'
// targets and its query variables, with Grafana's variables replaced by sample values.
func readDashboard(path string) ([]query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("read dashboard %s: %w", path, err)
	}

	file := filepath.Base(path)
	queries := panelQueries(file, d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		text, err := variableQuery(v.Query)
		if err != nil {
			return nil, fmt.Errorf("read dashboard %s, variable %s: %w", path, v.Name, err)
		}
		if expr, ok := grafanaFunction(text); ok {
			where := fmt.Sprintf("%s, variable %s", file, v.Name)
			queries = append(queries, query{where: where, expr: expr, expanded: expandVariables(expr)})
		}
	}
	return queries, nil
}

func panelQueries(file string, panels []panel) []query {
	var queries []query
	for _, p := range panels {
		queries = append(queries, panelQueries(file, p.Panels)...)
		for _, t := range p.Targets {
			// Panels may mix data sources; only Prometheus speaks PromQL.
			if t.Datasource != nil && t.Datasource.Type != "" && t.Datasource.Type != "prometheus" {
				continue
			}
			where := fmt.Sprintf("%s, panel %q, query %s", file, p.Title, t.RefID)
			queries = append(queries, query{where: where, expr: t.Expr, expanded: expandVariables(t.Expr)})
		}
	}
	return queries
}

// variableQuery returns a query variable's query, which Grafana stores either as a string or
// as an object with a query field.
func variableQuery(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return text, nil
	}
	var object struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &object); err != nil {
		return "", fmt.Errorf("query is neither a string nor an object: %w", err)
	}
	return object.Query, nil
}

var (
	labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)
	queryResult = regexp.MustCompile(`^\s*query_result\((.+)\)\s*$`)
)

// grafanaFunction returns the PromQL inside a Prometheus variable query of Grafana's, and
// false for the forms that hold none: label_values(label), label_names() and metrics(regex).
func grafanaFunction(text string) (string, bool) {
	if m := labelValues.FindStringSubmatch(text); m != nil {
		return m[1], true
	}
	if m := queryResult.FindStringSubmatch(text); m != nil {
		return m[1], true
	}
	return "", false
}

// variable matches Grafana's three ways to name a variable: $name, ${name...} and [[name]].
var variable = regexp.MustCompile(`\$\{(\w+)[^}]*\}|\[\[(\w+)[^\]]*\]\]|\$(\w+)`)

// expandVariables replaces Grafana's variables in expr by values that keep it parseable:
// its built-in intervals ($__rate_interval, $__range_s, ...) by durations or numbers of
// seconds, and a dashboard variable by its own name, as it only appears in label values.
func expandVariables(expr string) string {
	return variable.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variable.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		switch {
		case !strings.HasPrefix(name, "__"):
			return name
		case strings.HasSuffix(name, "_ms"), strings.HasSuffix(name, "_s"):
			return "300"
		default:
			return "5m"
		}
	})
}

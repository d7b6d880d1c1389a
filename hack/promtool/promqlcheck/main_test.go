package main

import (
	"slices"
	"strings"
	"testing"
)

func TestRunReportsEveryProblem(t *testing.T) {
	t.Parallel()
	problems, checked, err := run("testdata/metrics.txt", "testdata/rules.yaml", "testdata/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}

	// The first line of each problem says where it is and what is wrong.
	var got []string
	for _, p := range problems {
		where, _, _ := strings.Cut(p, "\n")
		got = append(got, where)
	}
	want := []string{
		`rules.yaml, group demo, alert Unparsable: does not parse: 1:33: parse error: unclosed left parenthesis`,
		`rules.yaml, group demo, alert Misspelt: selects metrics not exported: __name__="demo_request_total"`,
		`dashboard.json, panel "Depth", query A: selects metrics not exported: __name__="demo_queue_depth_bucket"`,
		`dashboard.json, variable instance: selects metrics not exported: __name__="demo_missing"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Four rules, four Prometheus targets (the Loki one is skipped), two variable queries.
	if checked != 10 {
		t.Errorf("checked %d expressions, want 10", checked)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	known := exported{"demo_latency_seconds": "histogram", "demo_rpc_seconds": "summary", "demo_info": ""}
	tests := []struct {
		title, expr, err string
	}{
		{title: "exported name", expr: "demo_info == 1"},
		{title: "histogram series", expr: "sum by (le) (rate(demo_latency_seconds_bucket[5m]))"},
		{title: "summary count", expr: "rate(demo_rpc_seconds_count[5m])"},
		{
			title: "summary has no buckets", expr: "demo_rpc_seconds_bucket",
			err: `selects metrics not exported: __name__="demo_rpc_seconds_bucket"`,
		},
		{title: "synthetic series", expr: `up == 0 or ALERTS{alertstate="firing"}`},
		{title: "regular expression that matches", expr: `{__name__=~"demo_.*_seconds"}`},
		{
			title: "regular expression that matches nothing", expr: `{__name__=~"other_.*"}`,
			err: `selects metrics not exported: __name__=~"other_.*"`,
		},
		{
			title: "unknown names listed once, sorted", expr: "b_total + a_total + b_total",
			err: `selects metrics not exported: __name__="a_total", __name__="b_total"`,
		},
		{title: "parse error", expr: "sum(", err: "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			t.Parallel()
			err := known.check(tt.expr)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("check(%q) = %v, want no error", tt.expr, err)
			case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
				t.Errorf("check(%q) = %v, want an error starting %q", tt.expr, err, tt.err)
			}
		})
	}
}

func TestExpandVariables(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"rate interval":      {in: `rate(x[$__rate_interval])`, want: `rate(x[5m])`},
		"braced with format": {in: `x{job=~"${job:regex}"}`, want: `x{job=~"job"}`},
		"brackets":           {in: `x{job="[[job]]"}`, want: `x{job="job"}`},
		"range in seconds":   {in: `x[${__range_s}s]`, want: `x[300s]`},
		"no variable":        {in: `sum(x)`, want: `sum(x)`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := expandVariables(tt.in); got != tt.want {
				t.Errorf("expandVariables(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

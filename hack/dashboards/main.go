// Command dashboards builds mergeflect's Grafana dashboard as code and writes its JSON model
// to stdout, or to the file -o names. `make dashboards` writes it to deploy/grafana and to the
// Helm chart; `make dashboards-check` fails when the committed copies are stale.
//
// The dashboard uses the classic JSON model (schema v1), which every Grafana version and
// every dashboard provisioner reads; the SDK marks its builders deprecated in favour of the
// v2 resources, which only recent Grafana versions serve.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// job is the selector every query starts from: the scrape jobs the job variable picks.
const job = `job=~"$job"`

// datasource points every query at the data source the datasource variable picks.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func main() {
	out := flag.String("o", "", "write the dashboard JSON to this file instead of stdout")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	board, err := build().Build()
	if err != nil {
		return fmt.Errorf("build dashboard: %w", err)
	}
	number(&board)
	data, err := json.MarshalIndent(board, "", "  ")
	if err != nil {
		return fmt.Errorf("encode dashboard: %w", err)
	}
	data = append(data, '\n')

	if out == "" {
		_, err = os.Stdout.Write(data)
	} else {
		err = os.WriteFile(out, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write dashboard: %w", err)
	}
	return nil
}

// build lays the dashboard out: a row per concern, read top to bottom from "is it working"
// to "why is it slow".
//
//nolint:staticcheck // The v1 builders are deprecated; see the package comment for why.
func build() *dashboard.DashboardBuilder {
	b := dashboard.NewDashboardBuilder("mergeflect").
		Uid("mergeflect").
		Description("Merges and reflections of Secrets by mergeflect, its certificates, queues and Vault use.").
		Tags([]string{"mergeflect"}).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(jobVariable())

	rows := []struct {
		title  string
		panels []cog.Builder[dashboard.Panel]
	}{
		{"Overview", overview()},
		{"Merges and reflections", activity()},
		{"Certificates", []cog.Builder[dashboard.Panel]{certificates()}},
		{"Latency", latency()},
		{"Work queues", queues()},
		{"Vault", []cog.Builder[dashboard.Panel]{vault()}},
	}
	for _, row := range rows {
		b = b.WithRow(dashboard.NewRowBuilder(row.title))
		for _, p := range row.panels {
			b = b.WithPanel(p)
		}
	}
	return b
}

func jobVariable() *dashboard.QueryVariableBuilder {
	query := "label_values(mergeflect_build_info, job)"
	return dashboard.NewQueryVariableBuilder("job").
		Label("Job").
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: &query}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true)
}

func overview() []cog.Builder[dashboard.Panel] {
	leading := single("Replicas leading",
		"Replicas that hold the leader Lease and write. Anything but 1 is wrong.", 4).
		Thresholds(thresholds("red", step{1, "green"}, step{2, "red"})).
		WithTarget(instant(fmt.Sprintf(`sum(mergeflect_leader{%s})`, job)))

	refused := single("Targets refused",
		"Targets whose latest merge was refused; each keeps its last good version.", 4).
		Thresholds(thresholds("green", step{1, "red"})).
		WithTarget(instant(fmt.Sprintf(`max(mergeflect_targets_refused{%s})`, job)))

	managed := single("Managed Secrets by kind", "Targets and mirrors that mergeflect writes and keeps.", 6).
		WithTarget(instant(fmt.Sprintf(`sum by (kind) (mergeflect_managed_secrets{%s})`, job)).
			LegendFormat("{{kind}}"))

	versions := table.NewPanelBuilder().
		Title("Build info").
		Description("Version of each replica, and whether it leads.").
		Datasource(datasource).Span(10).Height(5).
		Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
			Type: dashboard.MappingTypeValueToText,
			Options: map[string]dashboard.ValueMappingResult{
				"0": {Text: cog.ToPtr("no")},
				"1": {Text: cog.ToPtr("yes")},
			},
		}}}).
		WithTarget(tableQuery(fmt.Sprintf(
			`mergeflect_build_info{%s} * on (job, instance) group_left () mergeflect_leader`, job))).
		Transformations(columns(
			[]string{"instance", "version", "goversion", "Value"},
			map[string]string{"Value": "leader"}))

	return []cog.Builder[dashboard.Panel]{leading, refused, managed, versions}
}

func activity() []cog.Builder[dashboard.Panel] {
	return []cog.Builder[dashboard.Panel]{
		perSecond("Merges by result", "Merges of sibling Secrets into a target.",
			"mergeflect_merges_total", "result"),
		perSecond("Reflections by result", "Mirror writes into the namespaces a target reflects to.",
			"mergeflect_reflections_total", "result"),
		perSecond("Errors by reason", "Refusals and failures reported as Warning Events, by Event reason.",
			"mergeflect_errors_total", "reason"),
	}
}

// certificates lists the leaf certificate of every managed TLS target, the soonest to expire
// first. A scrape without honor_labels renames the Secret's namespace label
// exported_namespace; label_replace reads either.
func certificates() cog.Builder[dashboard.Panel] {
	expr := fmt.Sprintf(`(min by (namespace, name) (label_replace(`+
		`mergeflect_certificate_expiry_timestamp_seconds{%s}, `+
		`"namespace", "$1", "exported_namespace", "(.+)")) - time()) / 86400`, job)
	return table.NewPanelBuilder().
		Title("Certificate expiry").
		Description("Days left before the leaf certificate of each managed TLS target expires.").
		Datasource(datasource).Span(24).Height(8).
		Decimals(1).
		Thresholds(thresholds("red", step{3, "orange"}, step{14, "green"})).
		OverrideByName("days left", []dashboard.DynamicConfigValue{
			{Id: "custom.cellOptions", Value: common.NewTableColorTextCellOptions()},
		}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName("days left"),
		}).
		WithTarget(tableQuery(expr)).
		Transformations(columns(
			[]string{"namespace", "name", "Value"},
			map[string]string{"Value": "days left"}))
}

func latency() []cog.Builder[dashboard.Panel] {
	propagation := timeseries.NewPanelBuilder().
		Title("Propagation latency").
		Description("From a change of a reflected Secret being seen to its last mirror written.").
		Datasource(datasource).Span(12).Height(8).Unit("s").Min(0)
	for _, q := range []struct {
		quantile string
		legend   string
	}{{"0.5", "p50"}, {"0.95", "p95"}, {"0.99", "p99"}} {
		propagation = propagation.WithTarget(series(fmt.Sprintf(
			`histogram_quantile(%s, sum by (le) (rate(mergeflect_propagation_seconds_bucket{%s}[$__rate_interval])))`,
			q.quantile, job)).LegendFormat(q.legend))
	}

	sync := timeseries.NewPanelBuilder().
		Title("Sync duration p95 by controller").
		Description("Time one sync of a key takes.").
		Datasource(datasource).Span(12).Height(8).Unit("s").Min(0).
		WithTarget(series(fmt.Sprintf(`histogram_quantile(0.95, sum by (controller, le) `+
			`(rate(mergeflect_sync_duration_seconds_bucket{%s}[$__rate_interval])))`, job)).
			LegendFormat("{{controller}}"))

	return []cog.Builder[dashboard.Panel]{propagation, sync}
}

func queues() []cog.Builder[dashboard.Panel] {
	depth := timeseries.NewPanelBuilder().
		Title("Work-queue depth").
		Description("Keys waiting in each queue.").
		Datasource(datasource).Span(12).Height(8).Min(0).
		WithTarget(series(fmt.Sprintf(`sum by (name) (mergeflect_workqueue_depth{%s})`, job)).
			LegendFormat("{{name}}"))
	retries := perSecond("Work-queue retries", "Keys put back to be retried after a failed sync.",
		"mergeflect_workqueue_retries_total", "name").Span(12)
	return []cog.Builder[dashboard.Panel]{depth, retries}
}

func vault() cog.Builder[dashboard.Panel] {
	return timeseries.NewPanelBuilder().
		Title("Vault requests by operation and result").
		Description("Requests to Vault; anything but ok is a failure.").
		Datasource(datasource).Span(24).Height(8).Unit("reqps").Min(0).
		WithTarget(series(fmt.Sprintf(`sum by (operation, result) `+
			`(rate(mergeflect_vault_requests_total{%s}[$__rate_interval]))`, job)).
			LegendFormat("{{operation}} {{result}}"))
}

// number gives every panel and row an id, and every query of a panel a refId, in order, so
// that links to a panel and the diff of a change stay stable.
//
//nolint:staticcheck // The v1 model is deprecated; see the package comment for why.
func number(board *dashboard.Dashboard) {
	for i := range board.Panels {
		id := uint32(i + 1)
		switch p := board.Panels[i]; {
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		case p.Panel != nil:
			p.Panel.Id = &id
			for j, target := range p.Panel.Targets {
				if q, ok := target.(prometheus.Dataquery); ok {
					q.RefId = cog.ToPtr(string(rune('A' + j)))
					p.Panel.Targets[j] = q
				}
			}
		}
	}
}

// single shows the latest value of each series of its query.
func single(title, description string, width uint32) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).Span(width).Height(5).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// perSecond charts the per-second rate of counter, one line per value of label.
func perSecond(title, description, counter, label string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).Span(8).Height(8).Unit("ops").Min(0).
		WithTarget(series(fmt.Sprintf(`sum by (%s) (rate(%s{%s}[$__rate_interval]))`, label, counter, job)).
			LegendFormat("{{" + label + "}}"))
}

func series(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(datasource).Expr(expr).Range()
}

func instant(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(datasource).Expr(expr).Instant()
}

func tableQuery(expr string) cog.Builder[variants.Dataquery] {
	return instant(expr).Format(prometheus.PromQueryFormatTable)
}

// columns keeps the columns named in order, in that order, and renames some of them.
func columns(order []string, rename map[string]string) []dashboard.DataTransformerConfig {
	index := map[string]int{}
	for i, name := range order {
		index[name] = i
	}
	return []dashboard.DataTransformerConfig{
		{Id: "filterFieldsByName", Options: map[string]any{"include": map[string]any{"names": order}}},
		{Id: "organize", Options: map[string]any{"indexByName": index, "renameByName": rename}},
	}
}

// step is a threshold: from at upwards, values are drawn in color.
type step struct {
	at    float64
	color string
}

// thresholds draws values below the first step in base.
func thresholds(base string, steps ...step) *dashboard.ThresholdsConfigBuilder {
	list := []dashboard.Threshold{{Color: base}}
	for _, s := range steps {
		list = append(list, dashboard.Threshold{Value: cog.ToPtr(s.at), Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(list)
}

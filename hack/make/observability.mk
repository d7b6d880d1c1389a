# Observability: the alerting rules and their unit tests, the Grafana dashboard built as code,
# and a check that every PromQL expression in them parses and names a metric the daemon
# really exports. promtool and promqlcheck come from the module hack/promtool, the dashboard
# from hack/dashboards: modules of their own, so that neither Prometheus nor the Grafana SDK
# reaches the daemon's dependencies.

RULES := deploy/prometheus/mergeflect-rules.yaml
RULES_TEST := deploy/prometheus/mergeflect-rules.test.yaml
DASHBOARD := deploy/grafana/mergeflect.json
CHART_FILES := deploy/helm/mergeflect/files

# promtool is built once per Prometheus version, under a versioned name, and linked as
# $(TOOLS_BIN)/promtool.
PROMETHEUS_VERSION := $(shell awk '$$1 == "github.com/prometheus/prometheus" { print $$2 } \
	$$2 == "github.com/prometheus/prometheus" { print $$3 }' hack/promtool/go.mod)
PROMTOOL_BUILT := $(TOOLS_BIN)/promtool-$(PROMETHEUS_VERSION)

.PHONY: promtool promqlcheck dashboards dashboards-check rules-test promql-check observability-check \
	observability-lint

promtool: $(PROMTOOL_BUILT) ## Build promtool into TOOLS_BIN, once per Prometheus version.
	@ln -sf $(notdir $(PROMTOOL_BUILT)) $(TOOLS_BIN)/promtool

$(PROMTOOL_BUILT):
	@echo "building promtool $(PROMETHEUS_VERSION) into $(TOOLS_BIN) (once; several minutes)"
	@mkdir -p $(TOOLS_BIN)
	$(GO) -C hack/promtool build -o $@ github.com/prometheus/prometheus/cmd/promtool

promqlcheck: ## Build promqlcheck into TOOLS_BIN.
	$(GO) -C hack/promtool build -o $(TOOLS_BIN)/promqlcheck ./promqlcheck

dashboards: ## Regenerate the Grafana dashboard and the Helm chart's copy of it.
	$(GO) -C hack/dashboards run . -o $(CURDIR)/$(DASHBOARD)
	@mkdir -p $(CHART_FILES)
	cp $(DASHBOARD) $(CHART_FILES)/dashboard.json

dashboards-check: ## Fail if a committed dashboard JSON differs from what hack/dashboards builds.
	@tmp=$$(mktemp); trap 'rm -f "$$tmp"' EXIT; \
	$(GO) -C hack/dashboards run . -o "$$tmp" || exit 1; \
	for f in $(DASHBOARD) $(CHART_FILES)/dashboard.json; do \
		if ! cmp -s "$$tmp" "$$f"; then \
			echo "$$f is stale (run make dashboards):"; diff -u "$$f" "$$tmp" | head -n 40; exit 1; \
		fi; \
	done; echo "dashboards are up to date"

rules-test: promtool ## Check the alerting rules, run their unit tests, compare the chart's copy.
	$(TOOLS_BIN)/promtool check rules $(RULES)
	$(TOOLS_BIN)/promtool test rules $(RULES_TEST)
	@cmp -s $(RULES) $(CHART_FILES)/rules.yaml || { \
		echo "$(CHART_FILES)/rules.yaml differs from $(RULES) (cp $(RULES) $(CHART_FILES)/rules.yaml)"; \
		exit 1; }

promql-check: controlplane promqlcheck ## Check the PromQL of rules and dashboard against what the daemon exports.
	$(GO) -C hack/promtool test ./promqlcheck/
	@dump=$$(mktemp); trap 'rm -f "$$dump"' EXIT; \
	echo "MERGEFLECT_METRICS_DUMP=$$dump $(GO) test -count=1 -run '^TestExportedMetricNames$$' ./e2e/"; \
	MERGEFLECT_METRICS_DUMP="$$dump" $(GO) test -count=1 -run '^TestExportedMetricNames$$' ./e2e/ || exit 1; \
	$(TOOLS_BIN)/promqlcheck -metrics "$$dump" -rules $(RULES) -dashboard $(DASHBOARD)

observability-check: dashboards-check rules-test promql-check ## Run every check of the rules and dashboard.

observability-lint: $(TOOLS_BIN)/golangci-lint ## Lint hack/promtool and hack/dashboards, which make lint skips.
	cd hack/promtool && $(TOOLS_BIN)/golangci-lint run ./...
	cd hack/dashboards && $(TOOLS_BIN)/golangci-lint run ./...

// Module dashboards builds mergeflect's Grafana dashboard as code. It is kept apart from the
// product's module: none of the Grafana SDK reaches the daemon.
module github.com/tazlab/mergeflect/hack/dashboards

go 1.26.0

require github.com/grafana/grafana-foundation-sdk/go v0.0.22

//go:build tools

// Package tools pins the helm command that the Makefile builds to lint and render the chart.
package tools

import _ "helm.sh/helm/v4/cmd/helm"

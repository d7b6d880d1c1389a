//go:build tools

// Package tools pins promtool, which the Makefile builds to check and unit-test the alerting
// rules.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"

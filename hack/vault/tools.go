//go:build tools

// Package tools pins the Vault server that the Makefile builds for the tests.
package tools

import _ "github.com/hashicorp/vault"

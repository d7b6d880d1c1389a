# mergeflect's build. `make demo` and `make test` do all their own set-up on a fresh machine:
# the control plane (kube-apiserver, etcd, kubectl) and the linters are built from the Go
# module proxy once and cached outside the work tree, so later clones reuse them.

GO ?= go
CACHE ?= $(HOME)/.cache/mergeflect

KUBERNETES_VERSION := v1.37.2
ETCD_VERSION := v3.7.3
GOLANGCI_LINT_VERSION := v2.15.0
GOFUMPT_VERSION := v0.12.0
GOTESTSUM_VERSION := v1.13.0

CONTROLPLANE_BIN := $(CACHE)/controlplane-$(KUBERNETES_VERSION)-etcd-$(ETCD_VERSION)
TOOLS_BIN := $(CACHE)/tools
FUZZTIME ?= 10s

export MERGEFLECT_CONTROLPLANE_BIN := $(CONTROLPLANE_BIN)

.PHONY: all build test unit bench fuzz lint fmt demo controlplane tools clean

all: build

build: ## Build the mergeflect binary into bin/.
	$(GO) build -o bin/mergeflect .

test: controlplane $(TOOLS_BIN)/gotestsum ## Run every test, the integration tests against a real control plane included.
	$(TOOLS_BIN)/gotestsum --format testname -- -count=1 ./...

unit: ## Run the tests that need no control plane.
	$(GO) test $$($(GO) list ./... | grep -v -e /e2e -e /internal/controlplane)

bench: controlplane ## Run the fan-out and memory benchmarks against a real control plane; they print their figures.
	$(GO) test -run '^$$' -bench . -benchtime 1x ./e2e/

fuzz: ## Fuzz every annotation parser for FUZZTIME each.
	$(GO) test -run '^$$' -fuzz '^FuzzParseKeys$$' -fuzztime $(FUZZTIME) ./merger/
	for f in FuzzParsePatterns FuzzParseRef FuzzPolicy; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./reflector/ || exit 1; \
	done
	$(GO) test -run '^$$' -fuzz '^FuzzParseRefs$$' -fuzztime $(FUZZTIME) ./vault/

lint: $(TOOLS_BIN)/golangci-lint $(TOOLS_BIN)/gofumpt ## Run golangci-lint and check gofumpt formatting.
	$(TOOLS_BIN)/golangci-lint run ./...
	@out=$$($(TOOLS_BIN)/gofumpt -l .); if [ -n "$$out" ]; then \
		echo "not gofumpt-formatted (run make fmt):"; echo "$$out"; exit 1; fi

fmt: $(TOOLS_BIN)/gofumpt ## Format the code with gofumpt.
	$(TOOLS_BIN)/gofumpt -w .

demo: controlplane ## Run mergeflect end to end on a local control plane.
	./hack/demo.sh

controlplane: $(CONTROLPLANE_BIN)/.built ## Build and cache kube-apiserver, etcd and kubectl.

$(CONTROLPLANE_BIN)/.built: hack/tools/go.mod hack/tools/go.sum
	@echo "building kube-apiserver, kubectl and etcd into $(CONTROLPLANE_BIN) (once; several minutes)"
	@mkdir -p $(CONTROLPLANE_BIN)
	cd hack/tools && $(GO) build -o $(CONTROLPLANE_BIN)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
	cd hack/tools && $(GO) build -o $(CONTROLPLANE_BIN)/kubectl k8s.io/kubernetes/cmd/kubectl
	cd hack/tools && $(GO) build -o $(CONTROLPLANE_BIN)/etcd go.etcd.io/etcd/server/v3
	@touch $@

tools: $(TOOLS_BIN)/golangci-lint $(TOOLS_BIN)/gofumpt $(TOOLS_BIN)/gotestsum

$(TOOLS_BIN)/golangci-lint:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(TOOLS_BIN)/gofumpt:
	GOBIN=$(TOOLS_BIN) $(GO) install mvdan.cc/gofumpt@$(GOFUMPT_VERSION)

$(TOOLS_BIN)/gotestsum:
	GOBIN=$(TOOLS_BIN) $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)

# Further targets, one file per concern.
-include hack/make/*.mk

clean: ## Remove build output and the demo's state (the cache stays).
	rm -rf bin .demo

# The open-source Vault server (v1.13.2, MPL-2.0) that the Vault tests run against, built
# from the Go module proxy in its own module (hack/vault) and cached like the control plane.

VAULT_VERSION := v1.13.2
VAULT_BIN := $(CACHE)/vault-$(VAULT_VERSION)

export MERGEFLECT_VAULT_BIN := $(VAULT_BIN)

.PHONY: vault

vault: $(VAULT_BIN)/vault ## Build and cache the Vault server for the tests.

$(VAULT_BIN)/vault: hack/vault/go.mod hack/vault/go.sum
	@echo "building vault $(VAULT_VERSION) into $(VAULT_BIN) (once; several minutes)"
	@mkdir -p $(VAULT_BIN)
	cd hack/vault && $(GO) build -o $(VAULT_BIN)/vault.tmp github.com/hashicorp/vault
	mv $(VAULT_BIN)/vault.tmp $@

test: vault

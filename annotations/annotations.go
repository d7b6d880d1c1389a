// Package annotations names every label, annotation and Event reason that makes up
// mergeflect's contract with its users, so that the rest of the code and the
// documentation in docs/annotations.md speak of one list.
package annotations

// Labels and annotations read on source Secrets.
const (
	// MergeInto is the label that makes a Secret a source of the target named by its value,
	// in the Secret's own namespace. Label values hold at most 63 characters.
	MergeInto = "mergeflect.io/merge-into"

	// Keys selects and renames the keys a source contributes, as comma-separated
	// sourceKey=targetKey pairs. Without it every key is taken under its own name.
	Keys = "mergeflect.io/keys"

	// Type sets the target's Secret type.
	Type = "mergeflect.io/type"

	// ReflectTo lists anchored regular expressions of the namespaces that receive a copy.
	ReflectTo = "mergeflect.io/reflect-to"

	// ReflectToSelector is a namespace label selector in kubectl syntax; a namespace
	// matching it receives a copy as well.
	ReflectToSelector = "mergeflect.io/reflect-to-selector"
)

// Annotations of a source whose data mergeflect reads from Vault.
const (
	// Vault lists, as comma-separated targetKey=<mount>/<path>#<field> entries, the Vault
	// values mergeflect writes into the source's data.
	Vault = "mergeflect.io/vault"

	// Refresh is how often the Vault values are read again: a cron expression or a
	// descriptor such as @every 1h. Default: every hour.
	Refresh = "mergeflect.io/refresh"

	// VaultRole names the role of Vault's Kubernetes auth method to log in with.
	VaultRole = "mergeflect.io/vault-role"

	// VaultServiceAccount names the ServiceAccount, in the source's namespace, whose token
	// logs in to Vault.
	VaultServiceAccount = "mergeflect.io/vault-service-account"

	// VaultVersions records, as key=version pairs, the KV version 2 versions last written.
	VaultVersions = "mergeflect.io/vault-versions"
)

// Labels and annotations written on the Secrets mergeflect manages.
const (
	// ManagedBy is the standard label that marks a Secret as written by mergeflect.
	// mergeflect never changes or deletes a Secret without it.
	ManagedBy = "app.kubernetes.io/managed-by"

	// ManagedByValue is the value of ManagedBy on every Secret mergeflect writes.
	ManagedByValue = "mergeflect"

	// Sources lists, on a merge target, the names of the Secrets it was built from.
	Sources = "mergeflect.io/sources"

	// ContentHash is a short hash of a target's or mirror's type and data. It lets a reader
	// tell two versions apart without seeing the data.
	ContentHash = "mergeflect.io/content-hash"

	// ReflectedFrom names, on a mirror, the namespace/name of the Secret it copies.
	ReflectedFrom = "mergeflect.io/reflected-from"
)

// Annotations read in Reflector's format, so that Secrets annotated for Reflector are
// reflected by mergeflect without change.
const (
	ReflectorAllowed           = "reflector.v1.k8s.emberstack.com/reflection-allowed"
	ReflectorAllowedNamespaces = "reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces"
	ReflectorAutoEnabled       = "reflector.v1.k8s.emberstack.com/reflection-auto-enabled"
	ReflectorAutoNamespaces    = "reflector.v1.k8s.emberstack.com/reflection-auto-namespaces"
	ReflectorReflects          = "reflector.v1.k8s.emberstack.com/reflects"
)

// Event reasons mergeflect reports on the objects concerned.
const (
	ReasonMerged             = "Merged"
	ReasonReflected          = "Reflected"
	ReasonInvalidCertificate = "InvalidCertificate"
	ReasonKeyMismatch        = "KeyMismatch"
	ReasonMissingSource      = "MissingSource"
	ReasonConflict           = "Conflict"
	ReasonInvalidAnnotation  = "InvalidAnnotation"
	ReasonWriteFailed        = "WriteFailed"
	ReasonVaultSynced        = "VaultSynced"
	ReasonVaultDenied        = "VaultDenied"
	ReasonVaultNotFound      = "VaultNotFound"
	ReasonVaultSealed        = "VaultSealed"
	ReasonVaultUnavailable   = "VaultUnavailable"
)

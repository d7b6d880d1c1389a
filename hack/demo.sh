#!/usr/bin/env bash
# The newcomer's tour: a local control plane, the wildcard certificate written the way VSO
# writes it (two single-key Secrets), mergeflect merging and reflecting it, and one rotation.
# Run it with `make demo`. Ctrl-C, or the end of a non-interactive run, stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${MERGEFLECT_CONTROLPLANE_BIN:?run this through make demo}"
dir=.demo
rm -rf "$dir" && mkdir -p "$dir/bin" "$dir/certs"
export KUBECONFIG="$PWD/$dir/kubeconfig"
kubectl() { "$MERGEFLECT_CONTROLPLANE_BIN/kubectl" "$@"; }
pids=()

cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	echo "demo stopped; nothing left running (state and logs in $dir/)"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { # wait_for DESCRIPTION COMMAND...: retry COMMAND for up to 30 s
	local what=$1; shift
	for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "timed out waiting for $what" >&2; return 1
}
hash_of() { kubectl get secret -n "$1" wildcard-tls -o jsonpath='{.metadata.annotations.mergeflect\.io/content-hash}' 2>/dev/null; }
show() {
	kubectl get secrets -A -l app.kubernetes.io/managed-by=mergeflect \
		-o custom-columns='NAMESPACE:.metadata.namespace,NAME:.metadata.name,TYPE:.type,CONTENT:.metadata.annotations.mergeflect\.io/content-hash,FROM:.metadata.annotations.mergeflect\.io/reflected-from'
}

step "Building mergeflect and starting a local control plane (etcd + kube-apiserver)"
go build -o "$dir/bin/mergeflect" .
go build -o "$dir/bin/controlplane" ./hack/controlplane
go build -o "$dir/bin/democert" ./hack/democert
"$dir/bin/controlplane" -dir "$dir" &
pids+=($!)
wait_for "the control plane" test -s "$KUBECONFIG"
wait_for "the API server" kubectl get --raw /readyz

step "Namespaces: vso-system holds the sources; auth, dex and hugo-* serve the certificate"
kubectl create namespace vso-system
for ns in auth dex hugo-blog hugo-wiki ai-agents; do kubectl create namespace "$ns"; done

step "The certificate and its key, as VSO writes them from two Vault paths"
"$dir/bin/democert" -name '*.tazlab.example' -out "$dir/certs"
source_secret() { # source_secret NAME FILE TARGET_KEY
	kubectl create secret generic "$1" -n vso-system --from-file=value="$2" --dry-run=client -o yaml |
		kubectl label --local -f - mergeflect.io/merge-into=wildcard-tls -o yaml |
		kubectl annotate --local -f - "mergeflect.io/keys=value=$3" \
			'mergeflect.io/reflect-to=auth,dex,hugo-.*' -o yaml |
		kubectl create -f -
}
rotate_secret() { # rotate_secret NAME FILE: replace the value only, as VSO does on a new version
	printf '{"data":{"value":"%s"}}' "$(base64 -w0 "$2")" >"$dir/patch.json"
	kubectl patch secret "$1" -n vso-system --type merge --patch-file "$dir/patch.json"
	rm -f "$dir/patch.json"
}
changed() { [ "$(hash_of "$1")" != "$2" ]; }
source_secret wildcard-crt "$dir/certs/tls.crt" tls.crt
source_secret wildcard-key "$dir/certs/tls.key" tls.key
kubectl get secret -n vso-system wildcard-crt -o jsonpath='{.metadata.labels}{"\n"}{.metadata.annotations}{"\n"}'

step "Starting mergeflect (log in $dir/mergeflect.log)"
"$dir/bin/mergeflect" --kubeconfig "$KUBECONFIG" --log-format console \
	--metrics-bind-address 127.0.0.1:18080 --health-probe-bind-address 127.0.0.1:18081 \
	>"$dir/mergeflect.log" 2>&1 &
pids+=($!)
wait_for "mergeflect to be ready" curl -fsS http://127.0.0.1:18081/readyz
wait_for "the mirrors" kubectl get secret -n hugo-wiki wildcard-tls

step "The merged kubernetes.io/tls Secret and its mirrors (ai-agents matches no pattern)"
show
kubectl describe secret -n vso-system wildcard-tls | sed -n '/^Name:/,/^Data/p;/^tls/p'

step "A namespace created later gets its copy"
kubectl create namespace hugo-docs
wait_for "the new mirror" kubectl get secret -n hugo-docs wildcard-tls
kubectl get secret -n hugo-docs wildcard-tls

step "Rotation: VSO writes the new certificate, then, a moment later, the new key"
old=$(hash_of vso-system)
"$dir/bin/democert" -name '*.tazlab.example' -out "$dir/certs"
rotate_secret wildcard-crt "$dir/certs/tls.crt"
sleep 2
echo "between the two writes the certificate and key do not match; mergeflect keeps the last good version:"
show
rotate_secret wildcard-key "$dir/certs/tls.key"
for ns in vso-system auth dex hugo-blog hugo-wiki hugo-docs; do
	wait_for "$ns to follow the rotation" changed "$ns" "$old"
done
echo "after the second write every copy holds the new pair:"
show

step "Events on the merged Secret"
kubectl get events -n vso-system --field-selector involvedObject.name=wildcard-tls \
	-o custom-columns='TYPE:.type,REASON:.reason,MESSAGE:.message'

step "A few of mergeflect's metrics"
curl -fsS http://127.0.0.1:18080/metrics | grep -E '^mergeflect_(merges_total|reflections_total|managed_secrets|certificate_expiry)'

if [ -t 0 ]; then
	step "The control plane keeps running; try kubectl with KUBECONFIG=$KUBECONFIG. Ctrl-C stops everything."
	wait
fi

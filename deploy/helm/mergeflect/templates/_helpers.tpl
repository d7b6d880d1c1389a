{{/*
mergeflect.name is the chart name, or nameOverride.
*/}}
{{- define "mergeflect.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
mergeflect.fullname names every resource of the release. It is the release name when that
already contains the chart name, so that a release called mergeflect is not doubled.
*/}}
{{- define "mergeflect.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
mergeflect.chart is the chart's name and version, as its label value.
*/}}
{{- define "mergeflect.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
mergeflect.selectorLabels select the release's pods. They never change after install:
a Deployment's selector is immutable.
*/}}
{{- define "mergeflect.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mergeflect.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
mergeflect.labels go on every resource.
*/}}
{{- define "mergeflect.labels" -}}
helm.sh/chart: {{ include "mergeflect.chart" . }}
{{ include "mergeflect.selectorLabels" . }}
app.kubernetes.io/version: {{ include "mergeflect.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mergeflect
{{- end }}

{{/*
mergeflect.version is the version of mergeflect deployed: the image tag, else appVersion.
*/}}
{{- define "mergeflect.version" -}}
{{- default .Chart.AppVersion .Values.image.tag | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
mergeflect.image is the image reference, pinned by digest when one is given.
*/}}
{{- define "mergeflect.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
mergeflect.serviceAccountName is the ServiceAccount the pods run as.
*/}}
{{- define "mergeflect.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mergeflect.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
mergeflect.vaultCAPath is where the Vault CA is mounted, empty when none is configured.
*/}}
{{- define "mergeflect.vaultCAPath" -}}
{{- if or .Values.vault.caCert.secretName .Values.vault.caCert.configMapName }}
{{- printf "/etc/mergeflect/vault-ca/%s" .Values.vault.caCert.key }}
{{- end }}
{{- end }}

{{/*
mergeflect.args are the daemon's command-line arguments, as a YAML list. A setting left
empty passes no flag, so that the daemon's own default applies.
*/}}
{{- define "mergeflect.args" -}}
{{- $v := .Values }}
{{- $args := list
  (printf "--metrics-bind-address=:%v" $v.metrics.port)
  (printf "--health-probe-bind-address=:%v" $v.health.port)
  (printf "--log-level=%s" $v.logLevel)
  (printf "--log-format=%s" $v.logFormat)
  (printf "--kube-api-qps=%v" $v.kubeAPI.qps)
  (printf "--kube-api-burst=%v" $v.kubeAPI.burst)
  (printf "--workers=%v" $v.workers)
  (printf "--fanout=%v" $v.fanout)
  (printf "--mismatch-grace=%s" $v.mismatchGrace)
  (printf "--reflector-compat=%t" $v.reflectorCompat)
  (printf "--leader-elect=%t" $v.leaderElection.enabled) }}
{{- $args = concat $args (include "mergeflect.optionalArgs" (dict
  "source-namespaces" (join "," $v.namespaces.sources)
  "reflect-namespaces" (join "," $v.namespaces.reflect)) | fromYamlArray) }}
{{- if $v.leaderElection.enabled }}
{{- $args = append $args (printf "--leader-election-id=%s" $v.leaderElection.id) }}
{{- $args = concat $args (include "mergeflect.optionalArgs" (dict
  "leader-election-lease-duration" $v.leaderElection.leaseDuration
  "leader-election-renew-deadline" $v.leaderElection.renewDeadline
  "leader-election-retry-period" $v.leaderElection.retryPeriod) | fromYamlArray) }}
{{- end }}
{{- if $v.vault.address }}
{{- $args = concat $args (include "mergeflect.optionalArgs" (dict
  "vault-address" $v.vault.address
  "vault-ca-cert" (include "mergeflect.vaultCAPath" .)
  "vault-tls-server-name" $v.vault.tlsServerName
  "vault-namespace" $v.vault.namespace
  "vault-auth-mount" $v.vault.authMount
  "vault-default-role" $v.vault.defaultRole
  "vault-default-service-account" $v.vault.defaultServiceAccount
  "vault-token-audience" $v.vault.tokenAudience
  "vault-token-namespaces" (join "," $v.vault.tokenNamespaces)
  "vault-timeout" $v.vault.timeout
  "vault-rate-limit" $v.vault.rateLimit) | fromYamlArray) }}
{{- end }}
{{- concat $args $v.extraArgs | toYaml }}
{{- end }}

{{/*
mergeflect.optionalArgs turns a dict of flag names to values into a YAML list of
--flag=value, sorted by flag name, leaving out values that are empty or unset.
*/}}
{{- define "mergeflect.optionalArgs" -}}
{{- $args := list }}
{{- range $flag, $value := . }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
{{- $args = append $args (printf "--%s=%v" $flag $value) }}
{{- end }}
{{- end }}
{{- toYaml $args }}
{{- end }}

{{/*
mergeflect.scheduling is the pod's placement: node selection, tolerations, and with
spreadPods a soft spread across zones and nodes, added to what the values give.
*/}}
{{- define "mergeflect.scheduling" -}}
{{- $selector := dict "matchLabels" (include "mergeflect.selectorLabels" . | fromYaml) }}
{{- $spread := .Values.topologySpreadConstraints }}
{{- $affinity := deepCopy .Values.affinity }}
{{- if .Values.spreadPods }}
{{- $spread = append $spread (dict
  "maxSkew" 1
  "topologyKey" "topology.kubernetes.io/zone"
  "whenUnsatisfiable" "ScheduleAnyway"
  "labelSelector" $selector
  "matchLabelKeys" (list "pod-template-hash")) }}
{{- if not (hasKey $affinity "podAntiAffinity") }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" $selector }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution"
  (list (dict "weight" 100 "podAffinityTerm" $term))) }}
{{- end }}
{{- end }}
{{- with $spread }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

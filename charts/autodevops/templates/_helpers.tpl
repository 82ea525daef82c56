{{/* Names and labels. */}}
{{- define "autodevops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "autodevops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One component's object name: <fullname>-<component>. Args: (list $ "component"). */}}
{{- define "autodevops.componentName" -}}
{{- $ := index . 0 -}}
{{- printf "%s-%s" (include "autodevops.fullname" $ | trunc 50 | trimSuffix "-") (index . 1) -}}
{{- end -}}

{{- define "autodevops.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "autodevops.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Every pod of the release, whatever its component (for the default-deny policy). */}}
{{- define "autodevops.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "autodevops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "autodevops.labels" -}}
{{- $ := index . 0 -}}
{{ include "autodevops.selectorLabels" . }}
app.kubernetes.io/part-of: autodevops
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version | replace "+" "_" }}
{{- with $.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "autodevops.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret a component reads: its values' existingSecret, "" meaning
<fullname>-<component>. Args: (list $ "component" values). */}}
{{- define "autodevops.secretName" -}}
{{- default (include "autodevops.componentName" .) (index . 2).existingSecret -}}
{{- end -}}

{{/* The names of the enabled servers (entries of .Values.servers), in order, as JSON. */}}
{{- define "autodevops.enabledServers" -}}
{{- $names := list -}}
{{- range $name, $v := .Values.servers -}}
{{- if $v.enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* Pod Security `restricted`, for every pod. */}}
{{- define "autodevops.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
fsGroup: {{ .Values.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "autodevops.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment every container gets: nothing may write outside /tmp. */}}
{{- define "autodevops.env" -}}
- name: HOME
  value: /tmp
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: PYTHONUNBUFFERED
  value: "1"
{{- with .Values.telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
NetworkPolicy peers from {cidrs, namespaceSelector, podSelector}: one ipBlock per CIDR, and
one selector peer when either selector is given ({} selects all). Nothing given: no peers.
*/}}
{{- define "autodevops.peerList" -}}
{{- $peers := list -}}
{{- range .cidrs -}}
{{- $peers = append $peers (dict "ipBlock" (dict "cidr" .)) -}}
{{- end -}}
{{- $selector := dict -}}
{{- if kindIs "map" .namespaceSelector -}}
{{- $_ := set $selector "namespaceSelector" .namespaceSelector -}}
{{- end -}}
{{- if kindIs "map" .podSelector -}}
{{- $_ := set $selector "podSelector" .podSelector -}}
{{- end -}}
{{- if $selector -}}
{{- $peers = append $peers $selector -}}
{{- end -}}
{{- toJson $peers -}}
{{- end -}}

{{/*
One egress rule to a peer spec (see above) on its TCP `ports`; with no peers given, those
ports anywhere.
*/}}
{{- define "autodevops.egressTo" -}}
{{- $peers := include "autodevops.peerList" . | fromJsonArray -}}
{{- $ports := list -}}
{{- range .ports -}}
{{- $ports = append $ports (dict "protocol" "TCP" "port" .) -}}
{{- end -}}
{{- $rule := dict "ports" $ports -}}
{{- if $peers -}}
{{- $_ := set $rule "to" $peers -}}
{{- end -}}
{{- toYaml (list $rule) -}}
{{- end -}}

{{/* "true" when the clients authenticate with projected ServiceAccount tokens, else "". */}}
{{- define "autodevops.serviceAccountTokens" -}}
{{- if eq .Values.serverAuth.mode "serviceAccountTokens" }}true{{ end -}}
{{- end -}}

{{/* The audience a server's ServiceAccount tokens are issued for: its own name,
<fullname>-<server>. Args: (list $ "server"). */}}
{{- define "autodevops.serverAudience" -}}
{{- include "autodevops.componentName" . -}}
{{- end -}}

{{/* The user name the API server gives a component's ServiceAccount. Args: (list $ "c"). */}}
{{- define "autodevops.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" (index . 0).Release.Namespace (include "autodevops.componentName" .) -}}
{{- end -}}

{{/* Where Scarlet and Jamie find their projected ServiceAccount tokens, one per server. */}}
{{- define "autodevops.serverTokensDir" -}}
/var/run/secrets/tokens
{{- end -}}

{{/*
A client's projected volume `server-tokens`: one ServiceAccount token per enabled server,
for that server's audience, renewed by the kubelet (the clients reread the file at every
connection). Args: $.
*/}}
{{- define "autodevops.serverTokensVolume" -}}
- name: server-tokens
  projected:
    sources:
      {{- range $server := include "autodevops.enabledServers" $ | fromJsonArray }}
      - serviceAccountToken:
          audience: {{ include "autodevops.serverAudience" (list $ $server) }}
          expirationSeconds: {{ $.Values.serverAuth.tokenExpirationSeconds }}
          path: {{ $server }}-token
      {{- end }}
{{- end -}}

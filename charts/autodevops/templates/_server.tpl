{{/*
The policy text with what the chart adds for the release's clients: with serverAuth.mode
serviceAccountTokens, `bindings` of Scarlet's and Jamie's ServiceAccounts to the entry's
scarlet.roles and jamie.roles; when Jamie is enabled, its `delegates` entry
(jamie.delegateRoles, the roles Jamie may hand on to the person it acts for) for subject
jamie, or for its ServiceAccount with serviceAccountTokens. Appended to the file as it is
(comments kept); a policy with its own `bindings` or `delegates` list is rendered merged.
Args: (list $ "server" policyText).
*/}}
{{- define "autodevops.serverPolicy" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $policy := index . 2 -}}
{{- $entry := index $.Values.servers $component -}}
{{- $sat := include "autodevops.serviceAccountTokens" $ -}}
{{- $parsed := fromYaml $policy -}}
{{- $known := keys (default dict $parsed.roles) | sortAlpha -}}
{{- $bindings := list -}}
{{- $delegates := list -}}
{{- range $client := list "scarlet" "jamie" -}}
{{- if (index $.Values $client).enabled -}}
{{- $given := default dict (index $entry $client) -}}
{{- $subject := $client -}}
{{- if $sat -}}
{{- $subject = include "autodevops.serviceAccountUser" (list $ $client) -}}
{{- $roles := $given.roles | default list -}}
{{- range $roles -}}
{{- if not (has . $known) -}}
{{- fail (printf "servers.%s.%s.roles: %s is not a role of files/policies/%s.yaml (it has %s)" $component $client . $component (join ", " $known)) -}}
{{- end -}}
{{- end -}}
{{- if $roles -}}
{{- $bindings = append $bindings (dict "subject" $subject "roles" $roles) -}}
{{- end -}}
{{- end -}}
{{- if eq $client "jamie" -}}
{{- $roles := $given.delegateRoles | default list -}}
{{- range $roles -}}
{{- if not (has . $known) -}}
{{- fail (printf "servers.%s.jamie.delegateRoles: %s is not a role of files/policies/%s.yaml (it has %s)" $component . $component (join ", " $known)) -}}
{{- end -}}
{{- end -}}
{{- if $roles -}}
{{- $delegates = append $delegates (dict "subject" $subject "roles" $roles) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not (or $bindings $delegates) -}}
{{- $policy -}}
{{- else if or (hasKey $parsed "bindings") (hasKey $parsed "delegates") -}}
{{- if $bindings -}}
{{- $_ := set $parsed "bindings" (concat (default list $parsed.bindings) $bindings) -}}
{{- end -}}
{{- if $delegates -}}
{{- $_ := set $parsed "delegates" (concat (default list $parsed.delegates) $delegates) -}}
{{- end -}}
{{- toYaml $parsed -}}
{{- else -}}
{{- $policy | trimSuffix "\n" }}
{{- if $bindings }}
# The clients' ServiceAccounts, verified with TokenReview (serverAuth.mode
# serviceAccountTokens), and their roles (servers.{{ $component }}.scarlet.roles, .jamie.roles).
bindings:
{{- range $bindings }}
  - subject: {{ .subject }}
    roles: {{ toJson .roles }}
{{- end }}
{{- end }}
{{- range $delegates }}
# Jamie acts for people with at most these roles (servers.{{ $component }}.jamie.delegateRoles).
delegates:
  - subject: {{ .subject }}
    roles: {{ toJson .roles }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
One MCP server, an entry of .Values.servers: ServiceAccount, policy ConfigMap, Service,
Deployment and, with serverAuth.mode serviceAccountTokens, its TokenReview RBAC.
Args: (list $ "name"). Only a server that calls the API server gets a ServiceAccount token:
one whose backend it is (`apiServer`, the Kubernetes server's tools), and every server with
serviceAccountTokens (its TokenReviews).
*/}}
{{- define "autodevops.server" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := index $.Values.servers $component -}}
{{- $name := include "autodevops.componentName" . -}}
{{- $sat := include "autodevops.serviceAccountTokens" $ -}}
{{- $callsApi := or ($v.apiServer | default false) (eq $sat "true") -}}
{{- $tokensFile := or (not $sat) $.Values.serverAuth.keepTokensFiles -}}
{{- $policy := $.Files.Get (printf "files/policies/%s.yaml" $component) -}}
{{- if not $policy }}{{ fail (printf "servers.%s: files/policies/%s.yaml is missing: add the server's policy to policies/ and run `make chart-rbac`" $component $component) }}{{ end -}}
{{- $policy = include "autodevops.serverPolicy" (list $ $component $policy) -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "autodevops.labels" . | nindent 4 }}
automountServiceAccountToken: {{ $callsApi }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}-policy
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "autodevops.labels" . | nindent 4 }}
data:
  policy.yaml: |-
    {{- $policy | trimSuffix "\n" | nindent 4 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "autodevops.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "autodevops.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: 8080
      targetPort: http
      protocol: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "autodevops.labels" . | nindent 4 }}
spec:
  replicas: {{ $v.replicas }}
  selector:
    matchLabels:
      {{- include "autodevops.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "autodevops.labels" . | nindent 8 }}
      annotations:
        # A changed policy rolls the pods: the server reads it at start.
        checksum/policy: {{ $policy | sha256sum }}
        {{- with $.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: {{ $callsApi }}
      enableServiceLinks: false
      securityContext:
        {{- include "autodevops.podSecurityContext" $ | nindent 8 }}
      {{- with $.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: server
          image: {{ include "autodevops.image" $ }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          args:
            - serve
            - {{ $v.serve | default $component }}
            - --transport=http
            - --host=0.0.0.0
            - --port=8080
            - --policy=/etc/autodevops/policy.yaml
            # Audit lines to stdout, where the cluster's log pipeline keeps them (see README).
            - --audit-log=-
            {{- if $tokensFile }}
            - --tokens-file=/var/run/secrets/autodevops/tokens.yaml
            {{- end }}
            {{- if $sat }}
            # Callers' ServiceAccount tokens, checked with a TokenReview for this audience.
            - --token-review
            - --token-audience={{ include "autodevops.serverAudience" . }}
            {{- end }}
            {{- range list $name (printf "%s.%s" $name $.Release.Namespace) (printf "%s.%s.svc" $name $.Release.Namespace) (printf "%s.%s.svc.%s" $name $.Release.Namespace $.Values.clusterDomain) }}
            - --allowed-host={{ . }}
            {{- end }}
            {{- with $v.backend }}
            {{- if .urlArg }}
            - {{ printf "%s=%s" .urlArg .url }}
            {{- end }}
            {{- end }}
            {{- range $arg, $key := $v.secretArgs }}
            - {{ printf "%s=/var/run/secrets/autodevops-files/%s" $arg $key }}
            {{- end }}
            {{- range $v.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          env:
            {{- include "autodevops.env" $ | nindent 12 }}
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "autodevops.containerSecurityContext" $ | nindent 12 }}
          volumeMounts:
            - {name: policy, mountPath: /etc/autodevops, readOnly: true}
            {{- if $tokensFile }}
            - {name: tokens, mountPath: /var/run/secrets/autodevops, readOnly: true}
            {{- end }}
            {{- if $v.secretArgs }}
            - {name: secret-files, mountPath: /var/run/secrets/autodevops-files, readOnly: true}
            {{- end }}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - name: policy
          configMap:
            name: {{ $name }}-policy
        {{- if $tokensFile }}
        # The whole Secret as a directory (not subPath), so a rotated Secret reaches the pod.
        - name: tokens
          secret:
            secretName: {{ include "autodevops.secretName" (list $ $component $v) }}
            items:
              - {key: {{ $v.tokensKey }}, path: tokens.yaml}
        {{- end }}
        {{- if $v.secretArgs }}
        # Keys of the same Secret passed as files (servers.<name>.secretArgs), e.g. a DSN.
        - name: secret-files
          secret:
            secretName: {{ include "autodevops.secretName" (list $ $component $v) }}
            items:
              {{- range $v.secretArgs }}
              - {key: {{ . }}, path: {{ . }}}
              {{- end }}
        {{- end }}
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- if $sat }}
---
# TokenReviews as the server's own identity (system:auth-delegator: create tokenreviews and
# subjectaccessreviews, nothing else), to verify its callers' ServiceAccount tokens.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}-auth-delegator
  labels:
    {{- include "autodevops.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:auth-delegator
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $.Release.Namespace }}
{{- end }}
{{- end -}}

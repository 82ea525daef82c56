{{/*
The policy text with Jamie's `delegates` entry when Jamie is enabled: the roles of
jamie.delegateRoles.<server> Jamie may hand on to the person it acts for. Appended to the
file as it is (comments kept); a policy with its own `delegates` list is rendered merged.
Args: (list $ "server" policyText).
*/}}
{{- define "autodevops.delegates" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $policy := index . 2 -}}
{{- $roles := list -}}
{{- if $.Values.jamie.enabled -}}
{{- $roles = index $.Values.jamie.delegateRoles $component | default list -}}
{{- end -}}
{{- if not $roles -}}
{{- $policy -}}
{{- else -}}
{{- $parsed := fromYaml $policy -}}
{{- $known := keys (default dict $parsed.roles) | sortAlpha -}}
{{- range $roles -}}
{{- if not (has . $known) -}}
{{- fail (printf "jamie.delegateRoles.%s: %s is not a role of files/policies/%s.yaml (it has %s)" $component . $component (join ", " $known)) -}}
{{- end -}}
{{- end -}}
{{- $entry := dict "subject" "jamie" "roles" $roles -}}
{{- if hasKey $parsed "delegates" -}}
{{- $_ := set $parsed "delegates" (append (default list $parsed.delegates) $entry) -}}
{{- toYaml $parsed -}}
{{- else -}}
{{- $policy | trimSuffix "\n" }}
# Jamie acts for people with at most these roles (jamie.delegateRoles.{{ $component }}).
delegates:
  - subject: jamie
    roles: {{ toJson $roles }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
One MCP server: ServiceAccount, policy ConfigMap, Service, Deployment. Args: (list $ "name").
Only the Kubernetes server calls the API server, so only its pods get a ServiceAccount token.
*/}}
{{- define "autodevops.server" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := index $.Values $component -}}
{{- $name := include "autodevops.componentName" . -}}
{{- $callsApi := eq $component "kubernetes" -}}
{{- $policy := $.Files.Get (printf "files/policies/%s.yaml" $component) -}}
{{- if not $policy }}{{ fail (printf "files/policies/%s.yaml is missing: run `make chart-rbac`" $component) }}{{ end -}}
{{- $policy = include "autodevops.delegates" (list $ $component $policy) -}}
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
            - {{ $component }}
            - --transport=http
            - --host=0.0.0.0
            - --port=8080
            - --policy=/etc/autodevops/policy.yaml
            - --tokens-file=/var/run/secrets/autodevops/tokens.yaml
            {{- range list $name (printf "%s.%s" $name $.Release.Namespace) (printf "%s.%s.svc" $name $.Release.Namespace) (printf "%s.%s.svc.%s" $name $.Release.Namespace $.Values.clusterDomain) }}
            - --allowed-host={{ . }}
            {{- end }}
            {{- if eq $component "prometheus" }}
            - --prometheus-url={{ $v.prometheusUrl }}
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
            - {name: tokens, mountPath: /var/run/secrets/autodevops, readOnly: true}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - name: policy
          configMap:
            name: {{ $name }}-policy
        # The whole Secret as a directory (not subPath), so a rotated Secret reaches the pod.
        - name: tokens
          secret:
            secretName: {{ include "autodevops.secretName" . }}
            items:
              - {key: {{ $v.tokensKey }}, path: tokens.yaml}
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
{{- end -}}

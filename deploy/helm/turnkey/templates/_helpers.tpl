{{- define "turnkey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "turnkey.fullname" -}}
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

{{- define "turnkey.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "turnkey.labels" -}}
helm.sh/chart: {{ include "turnkey.chart" . }}
{{ include "turnkey.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "turnkey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "turnkey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "turnkey.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "turnkey.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "turnkey.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "turnkey.secretName" -}}
{{- default (printf "%s-secrets" (include "turnkey.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Render-time checks shared by every template that includes them.
*/}}
{{- define "turnkey.validate" -}}
{{- if and .Values.api.enabled (gt (int .Values.api.replicas) 1) (not .Values.secrets.existingSecret) }}
{{- $_ := required (printf "api.replicas is %d: several API replicas must share one PostgreSQL store; set secrets.storeDSN (postgres://...) or secrets.existingSecret with a store-dsn key" (int .Values.api.replicas)) .Values.secrets.storeDSN }}
{{- end }}
{{- if gt (int .Values.relay.minPort) (int .Values.relay.maxPort) }}
{{- fail (printf "relay.minPort (%d) is above relay.maxPort (%d)" (int .Values.relay.minPort) (int .Values.relay.maxPort)) }}
{{- end }}
{{- if and .Values.config.api.tls (not .Values.tls.secretName) }}
{{- fail "config.api.tls needs a certificate: set tls.secretName" }}
{{- end }}
{{- $drain := toString (default "30s" .Values.config.drain_timeout) }}
{{- if regexMatch "^[0-9]+s$" $drain }}
{{- $secs := int (trimSuffix "s" $drain) }}
{{- range $w := list "relay" "api" }}
{{- $grace := int (index $.Values $w).terminationGracePeriodSeconds }}
{{- if le $grace $secs }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed config.drain_timeout (%s) so draining is not cut short" $w $grace $drain) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The turnkey YAML configuration: .Values.config plus the keys the chart owns.
*/}}
{{- define "turnkey.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "data_dir" "/var/lib/turnkey" }}
{{- $turn := deepCopy (default dict (get $cfg "turn")) }}
{{- $_ := set $turn "min_port" (int .Values.relay.minPort) }}
{{- $_ := set $turn "max_port" (int .Values.relay.maxPort) }}
{{- $_ := set $cfg "turn" $turn }}
{{- $api := deepCopy (default dict (get $cfg "api")) }}
{{- $_ := set $api "listen" (printf ":%d" (int .Values.api.port)) }}
{{- $_ := set $cfg "api" $api }}
{{- if .Values.tls.secretName }}
{{- $_ := set $cfg "tls" (dict "cert_file" "/etc/turnkey/tls/tls.crt" "key_file" "/etc/turnkey/tls/tls.key") }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Environment shared by relays and API: config file and secrets.
*/}}
{{- define "turnkey.env" -}}
- name: TURNKEY_CONFIG
  value: /etc/turnkey/config/turnkey.yaml
- name: TURNKEY_SECRETS
  valueFrom:
    secretKeyRef:
      name: {{ include "turnkey.secretName" . }}
      key: turn-secrets
- name: TURNKEY_STORE_DSN
  valueFrom:
    secretKeyRef:
      name: {{ include "turnkey.secretName" . }}
      key: store-dsn
      optional: {{ not (and .Values.api.enabled (gt (int .Values.api.replicas) 1)) }}
- name: TURNKEY_STORE_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "turnkey.secretName" . }}
      key: store-encryption-key
      optional: true
{{- end }}

{{- define "turnkey.volumeMounts" -}}
- name: config
  mountPath: /etc/turnkey/config
  readOnly: true
- name: data
  mountPath: /var/lib/turnkey
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.secretName }}
- name: tls
  mountPath: /etc/turnkey/tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "turnkey.volumes" -}}
- name: config
  configMap:
    name: {{ include "turnkey.fullname" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.tls.secretName }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "turnkey.podAnnotations" -}}
checksum/config: {{ include "turnkey.config" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secrets: {{ printf "%v|%s|%s" .Values.secrets.turnSecrets .Values.secrets.storeDSN .Values.secrets.storeEncryptionKey | sha256sum }}
{{- end }}
{{- end }}

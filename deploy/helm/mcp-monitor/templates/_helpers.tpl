{{- define "mcpmon.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcpmon.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mcpmon.labels" -}}
app.kubernetes.io/name: {{ include "mcpmon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mcpmon.selector" -}}
app.kubernetes.io/name: {{ include "mcpmon.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mcpmon.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Pod annotations: Prometheus scraping of the metrics port, and a hash of the charters
     so a charter change rolls the workers. */}}
{{- define "mcpmon.scrape" -}}
{{- if .root.Values.metrics.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* Environment every component shares. */}}
{{- define "mcpmon.env" -}}
- name: MCPMON_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: MCPMON_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: MCPMON_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: MCPMON_METRICS_ADDR
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- range $k, $v := .Values.env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* MCPMON_<SETTING>_FILE for each secret a component maps; args: root, component. */}}
{{- define "mcpmon.secretEnv" -}}
{{- $map := index .root.Values.secrets .component | default dict -}}
{{- range $setting, $key := $map }}
- name: {{ printf "MCPMON_%s_FILE" (upper $setting) }}
  value: {{ printf "/run/secrets/mcpmon/%s" $key | quote }}
{{- end }}
{{- end -}}

{{- define "mcpmon.secretVolume" -}}
{{- $map := index .root.Values.secrets .component | default dict -}}
{{- if $map }}
- name: secrets
  secret:
    secretName: {{ required "secrets.existingSecret: name the Secret that holds the mapped keys" .root.Values.secrets.existingSecret }}
    defaultMode: 0440
    items:
      {{- range $setting, $key := $map }}
      - key: {{ $key }}
        path: {{ $key }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "mcpmon.secretMount" -}}
{{- $map := index .root.Values.secrets .component | default dict -}}
{{- if $map }}
- name: secrets
  mountPath: /run/secrets/mcpmon
  readOnly: true
{{- end }}
{{- end -}}

{{/* An exec probe: healthy while FILE was rewritten less than AGE seconds ago. */}}
{{- define "mcpmon.fresh" -}}
exec:
  command:
    - python
    - -c
    - {{ printf "import os, sys, time; sys.exit(0 if time.time() - os.path.getmtime('%s') < %d else 1)" .file (int .age) | quote }}
{{- end -}}

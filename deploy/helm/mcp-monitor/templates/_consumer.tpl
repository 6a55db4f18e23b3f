{{/* A Deployment of a Kafka consumer loop with a heartbeat file (revoker, sink).
     args: root, component, values (its section), args (the mcpmon command), env (extra). */}}
{{- define "mcpmon.consumer" -}}
{{- $root := .root -}}
{{- $v := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mcpmon.fullname" $root }}-{{ .component }}
  labels:
    {{- include "mcpmon.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ $v.replicas }}
  selector:
    matchLabels:
      {{- include "mcpmon.selector" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "mcpmon.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      annotations:
        {{- include "mcpmon.scrape" (dict "root" $root "port" $v.metricsPort) | nindent 8 }}
    spec:
      serviceAccountName: {{ include "mcpmon.fullname" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: 60
      containers:
        - name: {{ .component }}
          image: {{ include "mcpmon.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          env:
            {{- include "mcpmon.env" $root | nindent 12 }}
            - name: {{ printf "MCPMON_%s_METRICS_PORT" (upper .component) }}
              value: {{ $v.metricsPort | quote }}
            - name: MCPMON_HEARTBEAT_FILE
              value: /tmp/mcpmon/{{ .component }}.alive
            {{- $secrets := index $root.Values.secrets .component | default dict }}
            {{- range $k, $val := .env }}
            {{- if not (hasKey $secrets (trimPrefix "MCPMON_" $k)) }}
            - name: {{ $k }}
              value: {{ $val | quote }}
            {{- end }}
            {{- end }}
            {{- include "mcpmon.secretEnv" (dict "root" $root "component" .component) | nindent 12 }}
            {{- range $k, $val := $v.env }}
            - name: {{ $k }}
              value: {{ $val | quote }}
            {{- end }}
          ports:
            - name: metrics
              containerPort: {{ $v.metricsPort }}
          # The consume loop rewrites the heartbeat every 5 s while it turns. Not ready
          # once it is 45 s old; restarted only after 6 minutes (one command may take up
          # to the consumer's 300 s poll interval against a dead actuator or Redis).
          startupProbe:
            {{- include "mcpmon.fresh" (dict "file" (printf "/tmp/mcpmon/%s.alive" .component) "age" 45) | nindent 12 }}
            periodSeconds: 5
            failureThreshold: 60
            timeoutSeconds: 5
          readinessProbe:
            {{- include "mcpmon.fresh" (dict "file" (printf "/tmp/mcpmon/%s.alive" .component) "age" 45) | nindent 12 }}
            periodSeconds: 10
            timeoutSeconds: 5
          livenessProbe:
            {{- include "mcpmon.fresh" (dict "file" (printf "/tmp/mcpmon/%s.alive" .component) "age" 360) | nindent 12 }}
            periodSeconds: 30
            failureThreshold: 2
            timeoutSeconds: 5
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- include "mcpmon.secretMount" (dict "root" $root "component" .component) | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- include "mcpmon.secretVolume" (dict "root" $root "component" .component) | nindent 8 }}
{{- end -}}

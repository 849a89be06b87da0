{{/*
The server's Deployment, rendered twice when spot capacity is on: deployment.yaml (the
on-demand pods) and deployment-spot.yaml (the spot burst). One pod spec serves both; the
`capacity` key the caller merges into the context ("on-demand" or "spot") picks what
differs (templates/_spot.tpl).
*/}}

{{/* tensorrt-llm.server.deployment: the server Deployment for the context's capacity. */}}
{{- define "tensorrt-llm.server.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "tensorrt-llm.metadata.common" (dict "ctx" . "suffix" (include "tensorrt-llm.spot.suffix" .)) | nindent 2 }}
  {{- with include "tensorrt-llm.checkov.serverSkips" . }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  replicas: {{ include "tensorrt-llm.rollout.replicas" . }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "tensorrt-llm.labels.selector" . | nindent 6 }}
      {{- if include "tensorrt-llm.spot.pods" . }}
      {{- include "tensorrt-llm.spot.capacityLabel" . | nindent 6 }}
      {{- end }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      {{- include "tensorrt-llm.rollout.rollingUpdate" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "tensorrt-llm.labels.standard" . | nindent 8 }}
        # The endpoint picker reads the metrics dialect from this label.
        {{- include "tensorrt-llm.inferencePool.engineLabel" . | nindent 8 }}
        {{- with include "tensorrt-llm.spot.capacityLabel" . }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or .Values.podAnnotations .Values.server.engineOptions }}
      annotations:
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with .Values.server.engineOptions }}
        # A mounted ConfigMap's change does not restart pods; this makes it roll them.
        checksum/engine-options: {{ toJson . | sha256sum }}
        {{- end }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "tensorrt-llm.names.serviceAccount" . }}
      # The server never talks to the Kubernetes API.
      automountServiceAccountToken: false
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "tensorrt-llm.spot.priorityClassName" . }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- include "tensorrt-llm.security.pod" . | nindent 8 }}
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "tensorrt-llm.placement.tolerations" . }}
      tolerations:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with include "tensorrt-llm.placement.affinity" . }}
      affinity:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with include "tensorrt-llm.placement.topologySpread" . }}
      topologySpreadConstraints:
        {{- . | nindent 8 }}
      {{- end }}
      containers:
        - name: server
          image: {{ include "tensorrt-llm.image.reference" . | quote }}
          imagePullPolicy: {{ include "tensorrt-llm.image.pullPolicy" . }}
          securityContext:
            {{- include "tensorrt-llm.security.container" . | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ include "tensorrt-llm.server.port" . }}
              protocol: TCP
          env:
            {{- include "tensorrt-llm.server.env" . | trim | nindent 12 }}
          resources:
            {{- include "tensorrt-llm.server.resources" . | nindent 12 }}
          startupProbe:
            httpGet:
              path: /health/ready
              port: http
            periodSeconds: {{ .Values.probes.startup.periodSeconds }}
            failureThreshold: {{ .Values.probes.startup.failureThreshold }}
            timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
          readinessProbe:
            httpGet:
              path: /health/ready
              port: http
            periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
            failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
            timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
          livenessProbe:
            httpGet:
              path: /health/live
              port: http
            periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
            failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
            timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
          {{- if .Values.preStopSleepSeconds }}
          lifecycle:
            preStop:
              {{- include "tensorrt-llm.server.preStop" . | nindent 14 }}
          {{- end }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: dshm
              mountPath: /dev/shm
            - name: {{ .Values.modelCache.enabled | ternary "model-cache" "cache-scratch" }}
              mountPath: {{ .Values.modelCache.mountPath }}
            {{- if .Values.server.engineOptions }}
            - name: engine-options
              mountPath: {{ dir (include "tensorrt-llm.engineOptions.file" .) }}
              readOnly: true
            {{- end }}
      volumes:
        # Writable scratch space under a read-only root filesystem.
        - name: tmp
          emptyDir: {}
        # NCCL and PyTorch exchange tensors between ranks through /dev/shm; the runtime's
        # 64Mi default is far too small for tensor parallelism.
        - name: dshm
          emptyDir:
            medium: Memory
            sizeLimit: {{ .Values.shm.sizeLimit }}
        {{- if .Values.modelCache.enabled }}
        - name: model-cache
          {{- if eq .Values.modelCache.type "pvc" }}
          persistentVolumeClaim:
            claimName: {{ include "tensorrt-llm.names.modelCacheClaim" . }}
          {{- else }}
          emptyDir:
            sizeLimit: {{ .Values.modelCache.size }}
          {{- end }}
        {{- else }}
        # The image points every cache (downloads, JIT-compiled kernels) under the
        # cache path: without a model cache they still need a writable place there.
        - name: cache-scratch
          emptyDir: {}
        {{- end }}
        {{- if .Values.server.engineOptions }}
        - name: engine-options
          configMap:
            name: {{ include "tensorrt-llm.names.suffixed" (dict "ctx" . "suffix" "engine-options") }}
        {{- end }}
{{- end -}}

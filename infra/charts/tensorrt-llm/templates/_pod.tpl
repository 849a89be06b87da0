{{/*
The server pod template, shared by the Deployment (one pod per instance) and the
LeaderWorkerSet (a leader and workers per instance): one place for volumes, security,
placement and resources, so single- and multi-node pods differ only by role.
*/}}

{{/* tensorrt-llm.pod.template: pod metadata and spec (dict: ctx, role = server | leader | worker). */}}
{{- define "tensorrt-llm.pod.template" -}}
{{- $ctx := .ctx -}}
{{- $role := .role -}}
{{- $multiNode := ne $role "server" -}}
{{- $serving := ne $role "worker" -}}
metadata:
  labels:
    {{- include "tensorrt-llm.labels.standard" $ctx | nindent 4 }}
    # The endpoint picker reads the metrics dialect from this label.
    {{- include "tensorrt-llm.inferencePool.engineLabel" $ctx | nindent 4 }}
    {{- with include "tensorrt-llm.spot.capacityLabel" $ctx }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $ctx.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or $ctx.Values.podAnnotations $ctx.Values.server.engineOptions }}
  annotations:
    {{- with $ctx.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $ctx.Values.server.engineOptions }}
    # A mounted ConfigMap's change does not restart pods; this makes it roll them.
    checksum/engine-options: {{ toJson . | sha256sum }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "tensorrt-llm.names.serviceAccount" $ctx }}
  # The server never talks to the Kubernetes API.
  automountServiceAccountToken: false
  {{- with $ctx.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "tensorrt-llm.spot.priorityClassName" $ctx }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- include "tensorrt-llm.security.pod" $ctx | nindent 4 }}
  terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds }}
  {{- with $ctx.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "tensorrt-llm.placement.tolerations" $ctx }}
  tolerations:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with include "tensorrt-llm.placement.affinity" . }}
  affinity:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with include "tensorrt-llm.placement.topologySpread" $ctx }}
  topologySpreadConstraints:
    {{- . | nindent 4 }}
  {{- end }}
  containers:
    - name: server
      {{- if $multiNode }}
      # The launcher (service/multinode.py): the leader waits for its workers' sshd, then
      # runs mpirun across the group; a worker serves sshd for mpirun's daemons.
      command: ["python", "-m", "service.multinode", {{ $role | quote }}]
      {{- end }}
      image: {{ include "tensorrt-llm.image.reference" $ctx | quote }}
      imagePullPolicy: {{ include "tensorrt-llm.image.pullPolicy" $ctx }}
      securityContext:
        {{- include "tensorrt-llm.security.container" $ctx | nindent 8 }}
      ports:
        {{- if $serving }}
        - name: http
          containerPort: {{ include "tensorrt-llm.server.port" $ctx }}
          protocol: TCP
        {{- end }}
        {{- if not $serving }}
        - name: ssh
          containerPort: {{ include "tensorrt-llm.multiNode.sshPort" $ctx }}
          protocol: TCP
        {{- end }}
      env:
        {{- include "tensorrt-llm.server.env" $ctx | trim | nindent 8 }}
      resources:
        {{- include "tensorrt-llm.server.resources" $ctx | nindent 8 }}
      {{- if not $serving }}
      # A worker runs ranks for the leader's MPI job and serves no HTTP: no readiness (the
      # group's readiness is the leader's); alive while its sshd accepts connections.
      livenessProbe:
        tcpSocket:
          port: ssh
        periodSeconds: {{ $ctx.Values.probes.liveness.periodSeconds }}
        failureThreshold: {{ $ctx.Values.probes.liveness.failureThreshold }}
        timeoutSeconds: {{ $ctx.Values.probes.liveness.timeoutSeconds }}
      {{- else }}
      startupProbe:
        httpGet:
          path: /health/ready
          port: http
        periodSeconds: {{ $ctx.Values.probes.startup.periodSeconds }}
        failureThreshold: {{ $ctx.Values.probes.startup.failureThreshold }}
        timeoutSeconds: {{ $ctx.Values.probes.startup.timeoutSeconds }}
      readinessProbe:
        httpGet:
          path: /health/ready
          port: http
        periodSeconds: {{ $ctx.Values.probes.readiness.periodSeconds }}
        failureThreshold: {{ $ctx.Values.probes.readiness.failureThreshold }}
        timeoutSeconds: {{ $ctx.Values.probes.readiness.timeoutSeconds }}
      livenessProbe:
        httpGet:
          path: /health/live
          port: http
        periodSeconds: {{ $ctx.Values.probes.liveness.periodSeconds }}
        failureThreshold: {{ $ctx.Values.probes.liveness.failureThreshold }}
        timeoutSeconds: {{ $ctx.Values.probes.liveness.timeoutSeconds }}
      {{- end }}
      {{- if and $serving $ctx.Values.preStopSleepSeconds }}
      lifecycle:
        preStop:
          {{- include "tensorrt-llm.server.preStop" $ctx | nindent 10 }}
      {{- end }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: dshm
          mountPath: /dev/shm
        - name: {{ $ctx.Values.modelCache.enabled | ternary "model-cache" "cache-scratch" }}
          mountPath: {{ $ctx.Values.modelCache.mountPath }}
        {{- if $ctx.Values.server.engineOptions }}
        - name: engine-options
          mountPath: {{ dir (include "tensorrt-llm.engineOptions.file" $ctx) }}
          readOnly: true
        {{- end }}
        {{- if $multiNode }}
        - name: mpi-ssh
          mountPath: {{ include "tensorrt-llm.multiNode.sshKeyDir" $ctx }}
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
        sizeLimit: {{ $ctx.Values.shm.sizeLimit }}
    {{- if $ctx.Values.modelCache.enabled }}
    - name: model-cache
      {{- if eq $ctx.Values.modelCache.type "pvc" }}
      persistentVolumeClaim:
        claimName: {{ include "tensorrt-llm.names.modelCacheClaim" $ctx }}
      {{- else }}
      emptyDir:
        sizeLimit: {{ $ctx.Values.modelCache.size }}
      {{- end }}
    {{- else }}
    # The image points every cache (downloads, JIT-compiled kernels) under the
    # cache path: without a model cache they still need a writable place there.
    - name: cache-scratch
      emptyDir: {}
    {{- end }}
    {{- if $ctx.Values.server.engineOptions }}
    - name: engine-options
      configMap:
        name: {{ include "tensorrt-llm.names.suffixed" (dict "ctx" $ctx "suffix" "engine-options") }}
    {{- end }}
    {{- if $multiNode }}
    # The group's SSH key: mpirun on the leader starts its daemons on the workers with it.
    - name: mpi-ssh
      secret:
        secretName: {{ include "tensorrt-llm.names.suffixed" (dict "ctx" $ctx "suffix" "mpi-ssh") }}
        defaultMode: 0400
    {{- end }}
{{- end -}}

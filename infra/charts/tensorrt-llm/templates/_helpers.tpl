{{/*
Names, labels and the facts several templates share. Helpers are named
tensorrt-llm.<area>.<thing>; each has a one-line doc comment.
*/}}

{{/* tensorrt-llm.names.name: chart name (or nameOverride), DNS-1123 label length. */}}
{{- define "tensorrt-llm.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* tensorrt-llm.names.fullname: release-qualified name used by every object, 63 characters at most. */}}
{{- define "tensorrt-llm.names.fullname" -}}
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

{{/* tensorrt-llm.names.suffixed: fullname plus a suffix, still 63 characters at most (dict: ctx, suffix). */}}
{{- define "tensorrt-llm.names.suffixed" -}}
{{- $suffix := printf "-%s" .suffix -}}
{{- $base := include "tensorrt-llm.names.fullname" .ctx | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s%s" $base $suffix -}}
{{- end -}}

{{/* tensorrt-llm.names.chart: chart name and version for the helm.sh/chart label. */}}
{{- define "tensorrt-llm.names.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* tensorrt-llm.names.serviceAccount: the ServiceAccount the pods run as. */}}
{{- define "tensorrt-llm.names.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tensorrt-llm.names.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.names.modelCacheClaim: the PersistentVolumeClaim holding the model cache. */}}
{{- define "tensorrt-llm.names.modelCacheClaim" -}}
{{- default (include "tensorrt-llm.names.suffixed" (dict "ctx" . "suffix" "model-cache")) .Values.modelCache.existingClaim -}}
{{- end -}}

{{/* tensorrt-llm.labels.selector: the minimal, immutable labels Deployment and Service select on. */}}
{{- define "tensorrt-llm.labels.selector" -}}
app.kubernetes.io/name: {{ include "tensorrt-llm.names.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* tensorrt-llm.labels.standard: the full app.kubernetes.io label set for every object's metadata. */}}
{{- define "tensorrt-llm.labels.standard" -}}
{{ include "tensorrt-llm.labels.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: inference-server
app.kubernetes.io/part-of: tensorrt-llm
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "tensorrt-llm.names.chart" . }}
{{- end -}}

{{/* tensorrt-llm.metadata.common: name, namespace and labels of a namespaced object (dict: ctx, suffix). */}}
{{- define "tensorrt-llm.metadata.common" -}}
name: {{ if .suffix }}{{ include "tensorrt-llm.names.suffixed" . }}{{ else }}{{ include "tensorrt-llm.names.fullname" .ctx }}{{ end }}
namespace: {{ .ctx.Release.Namespace }}
labels:
  {{- include "tensorrt-llm.labels.standard" .ctx | nindent 2 }}
{{- end -}}

{{/* tensorrt-llm.server.port: the port the server listens on inside the pod (PORT env and containerPort). */}}
{{- define "tensorrt-llm.server.port" -}}
8000
{{- end -}}

{{/* tensorrt-llm.image.reference: repository@digest when a digest is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "tensorrt-llm.image.reference" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.image.pullPolicy: image.pullPolicy, else IfNotPresent for a digest and Always for a (movable) tag. */}}
{{- define "tensorrt-llm.image.pullPolicy" -}}
{{- if .Values.image.pullPolicy -}}
{{- .Values.image.pullPolicy -}}
{{- else if .Values.image.digest -}}
IfNotPresent
{{- else -}}
Always
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.modelCache.dir: the writable cache directory: the model cache, or per-pod scratch space when that is off (the image keeps every cache under it). */}}
{{- define "tensorrt-llm.modelCache.dir" -}}
{{- .Values.modelCache.mountPath -}}
{{- end -}}

{{/* tensorrt-llm.security.pod: restricted pod securityContext; uid/gid 1000 is the image's trtllm user. */}}
{{- define "tensorrt-llm.security.pod" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
# A model cache holds thousands of files: chown them only when the volume root is wrong.
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* tensorrt-llm.security.container: restricted container securityContext with a read-only root filesystem. */}}
{{- define "tensorrt-llm.security.container" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* tensorrt-llm.placement.tolerations: user tolerations plus the GPU taint toleration when GPUs are requested. */}}
{{- define "tensorrt-llm.placement.tolerations" -}}
{{- $tolerations := .Values.tolerations -}}
{{- if .Values.gpu.enabled -}}
{{- $tolerations = append $tolerations (dict "key" .Values.gpu.resourceName "operator" "Exists" "effect" "NoSchedule") -}}
{{- end -}}
{{- if $tolerations -}}
{{- toYaml $tolerations -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.placement.affinity: GPU placement affinity from values with the pod anti-affinity term merged in, never replacing it. */}}
{{- define "tensorrt-llm.placement.affinity" -}}
{{- $affinity := deepCopy .Values.affinity -}}
{{- if .Values.podAntiAffinity.enabled -}}
{{- $term := dict "topologyKey" .Values.podAntiAffinity.topologyKey "labelSelector" (dict "matchLabels" (include "tensorrt-llm.labels.selector" . | fromYaml)) -}}
{{- $anti := default (dict) (get $affinity "podAntiAffinity") -}}
{{- if eq .Values.podAntiAffinity.type "hard" -}}
{{- $terms := default (list) (get $anti "requiredDuringSchedulingIgnoredDuringExecution") -}}
{{- $_ := set $anti "requiredDuringSchedulingIgnoredDuringExecution" (append $terms $term) -}}
{{- else -}}
{{- $terms := default (list) (get $anti "preferredDuringSchedulingIgnoredDuringExecution") -}}
{{- $_ := set $anti "preferredDuringSchedulingIgnoredDuringExecution" (append $terms (dict "weight" 100 "podAffinityTerm" $term)) -}}
{{- end -}}
{{- $_ := set $affinity "podAntiAffinity" $anti -}}
{{- end -}}
{{- if $affinity -}}
{{- toYaml $affinity -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.placement.topologySpread: spread constraints, each given the pod's selector labels unless it names its own. */}}
{{- define "tensorrt-llm.placement.topologySpread" -}}
{{- $constraints := list -}}
{{- range .Values.topologySpreadConstraints -}}
{{- $c := deepCopy . -}}
{{- if not (hasKey $c "labelSelector") -}}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "tensorrt-llm.labels.selector" $ | fromYaml)) -}}
{{- end -}}
{{- $constraints = append $constraints $c -}}
{{- end -}}
{{- if $constraints -}}
{{- toYaml $constraints -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.server.memory: tensorParallelSize x memoryPerRankGi + shm.sizeLimit (memory-backed, so it counts against the limit). */}}
{{- define "tensorrt-llm.server.memory" -}}
{{- $shm := toString .Values.shm.sizeLimit -}}
{{- $shmGi := 0 -}}
{{- if hasSuffix "Gi" $shm -}}
{{- $shmGi = trimSuffix "Gi" $shm | int -}}
{{- else if hasSuffix "Mi" $shm -}}
{{- $shmGi = div (add (trimSuffix "Mi" $shm | int) 1023) 1024 -}}
{{- else -}}
{{- fail (printf "shm.sizeLimit: %s must be in Gi or Mi when resources leave memory to the chart" $shm) -}}
{{- end -}}
{{- printf "%dGi" (add (mul (int .Values.tensorParallelSize) (int .Values.memoryPerRankGi)) $shmGi) -}}
{{- end -}}

{{/* tensorrt-llm.server.resources: container resources from values, memory sized by tensorParallelSize where unset, and exactly tensorParallelSize GPUs when gpu.enabled. */}}
{{- define "tensorrt-llm.server.resources" -}}
{{- $resources := deepCopy .Values.resources -}}
{{- $memory := include "tensorrt-llm.server.memory" . -}}
{{- range $kind := list "requests" "limits" -}}
{{- $list := default (dict) (get $resources $kind) -}}
{{- if not (get $list "memory") -}}
{{- $_ := set $list "memory" $memory -}}
{{- end -}}
{{- $_ := set $resources $kind $list -}}
{{- end -}}
{{- if .Values.gpu.enabled -}}
{{- $limits := default (dict) (get $resources "limits") -}}
{{- $_ := set $limits .Values.gpu.resourceName (int .Values.tensorParallelSize) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* tensorrt-llm.server.envMap: plain env vars of the server (name -> string); unset (null) values are left out so the server default applies. */}}
{{- define "tensorrt-llm.server.envMap" -}}
{{- $v := .Values -}}
{{- $cache := include "tensorrt-llm.modelCache.dir" . -}}
{{- $ints := dict
  "TENSOR_PARALLEL_SIZE" $v.tensorParallelSize
  "MAX_BATCH_SIZE" $v.server.maxBatchSize
  "MAX_NUM_TOKENS" $v.server.maxNumTokens
  "MAX_CONCURRENT_REQUESTS" $v.server.maxConcurrentRequests
  "MAX_QUEUED_REQUESTS" $v.server.maxQueuedRequests
  "DRAIN_TIMEOUT_SECONDS" $v.server.drainTimeoutSeconds
  "MAX_TOKENS" $v.requestDefaults.maxTokens
  "SIMULATED_MAX_BATCH" $v.simulated.maxBatch
  "PORT" (include "tensorrt-llm.server.port" .)
-}}
{{- $numbers := dict
  "KV_CACHE_FREE_GPU_MEMORY_FRACTION" $v.server.kvCacheFreeGpuMemoryFraction
  "TEMPERATURE" $v.requestDefaults.temperature
  "TOP_P" $v.requestDefaults.topP
  "SIMULATED_TTFT_MS" $v.simulated.ttftMs
  "SIMULATED_ITL_MS" $v.simulated.itlMs
  "SIMULATED_LOAD_SECONDS" $v.simulated.loadSeconds
-}}
{{- $strings := dict
  "ENGINE" $v.engine
  "MODEL_PATH" (ternary "" $v.model.path (eq $v.engine "simulated"))
  "SERVED_MODEL_NAME" $v.model.servedModelName
  "TRUST_REMOTE_CODE" (toString $v.model.trustRemoteCode)
  "LOG_LEVEL" $v.server.logLevel
  "LOG_FORMAT" $v.server.logFormat
  "HF_HOME" (printf "%s/huggingface" $cache)
-}}
{{- $env := dict -}}
{{- range $name, $value := $ints -}}
{{- if not (kindIs "invalid" $value) -}}
{{- /* Values arrive as float64: int64 keeps 1000000 from rendering as 1e+06. */ -}}
{{- $_ := set $env $name (toString (int64 $value)) -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := $numbers -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $_ := set $env $name (toString $value) -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := $strings -}}
{{- if $value -}}
{{- $_ := set $env $name $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* tensorrt-llm.server.env: the container env list: plain settings, Secret references, then extraEnv. */}}
{{- define "tensorrt-llm.server.env" -}}
{{- range $name, $value := include "tensorrt-llm.server.envMap" . | fromYaml }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.secrets.hfToken }}
{{- if .name }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.secrets.apiKeys }}
{{- if .name }}
- name: API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* tensorrt-llm.server.preStop: preStop handler that keeps serving while endpoints converge; the native sleep action from 1.30 (alpha and off by default in 1.29), else python, the one binary the image guarantees. */}}
{{- define "tensorrt-llm.server.preStop" -}}
{{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version -}}
sleep:
  seconds: {{ int .Values.preStopSleepSeconds }}
{{- else -}}
exec:
  command:
    - python
    - -c
    - import time; time.sleep({{ int .Values.preStopSleepSeconds }})
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.pdb.enabled: "true" when more than one pod can run, the only case a budget helps. */}}
{{- define "tensorrt-llm.pdb.enabled" -}}
{{- if .Values.autoscaling.enabled -}}
{{- if gt (int .Values.autoscaling.minReplicas) 1 }}true{{ end -}}
{{- else if gt (int .Values.replicaCount) 1 -}}
true
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.validate.errors: every cross-value rule the schema cannot express, one message per broken rule. */}}
{{- define "tensorrt-llm.validate.errors" -}}
{{- $v := .Values -}}
{{- $errors := list -}}
{{- if and (eq $v.engine "tensorrt-llm") (not $v.gpu.enabled) -}}
{{- $errors = append $errors "engine: tensorrt-llm needs GPUs; set gpu.enabled=true or engine to transformers/simulated" -}}
{{- end -}}
{{- if and (gt (int $v.tensorParallelSize) 1) (ne $v.engine "tensorrt-llm") -}}
{{- $errors = append $errors (printf "tensorParallelSize: %d needs engine tensorrt-llm (engine is %s)" (int $v.tensorParallelSize) $v.engine) -}}
{{- end -}}
{{- if and (ne $v.engine "simulated") (not $v.model.path) -}}
{{- $errors = append $errors (printf "model.path: required for engine %s" $v.engine) -}}
{{- end -}}
{{- if hasKey (default (dict) $v.resources.limits) $v.gpu.resourceName -}}
{{- $errors = append $errors (printf "resources.limits.%s: set tensorParallelSize instead; the chart requests one GPU per rank" $v.gpu.resourceName) -}}
{{- end -}}
{{- if hasKey (default (dict) $v.resources.requests) $v.gpu.resourceName -}}
{{- $errors = append $errors (printf "resources.requests.%s: set tensorParallelSize instead; the chart requests one GPU per rank" $v.gpu.resourceName) -}}
{{- end -}}
{{- $needed := add (int $v.preStopSleepSeconds) (int $v.server.drainTimeoutSeconds) -}}
{{- if le (int $v.terminationGracePeriodSeconds) $needed -}}
{{- $errors = append $errors (printf "terminationGracePeriodSeconds: %d must exceed preStopSleepSeconds + server.drainTimeoutSeconds = %d, or streams are killed mid-drain" (int $v.terminationGracePeriodSeconds) $needed) -}}
{{- end -}}
{{- range $name, $probe := $v.probes -}}
{{- if gt (int $probe.timeoutSeconds) (int $probe.periodSeconds) -}}
{{- $errors = append $errors (printf "probes.%s.timeoutSeconds: %d exceeds periodSeconds %d" $name (int $probe.timeoutSeconds) (int $probe.periodSeconds)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (lt (int $v.autoscaling.maxReplicas) (int $v.autoscaling.minReplicas)) -}}
{{- $errors = append $errors (printf "autoscaling.maxReplicas: %d is below autoscaling.minReplicas %d" (int $v.autoscaling.maxReplicas) (int $v.autoscaling.minReplicas)) -}}
{{- end -}}
{{- $most := ternary (int $v.autoscaling.maxReplicas) (int $v.replicaCount) $v.autoscaling.enabled -}}
{{- if and $v.modelCache.enabled (eq $v.modelCache.type "pvc") (not $v.modelCache.existingClaim) (gt $most 1) (has $v.modelCache.accessMode (list "ReadWriteOnce" "ReadWriteOncePod")) -}}
{{- $errors = append $errors (printf "modelCache.accessMode: %s cannot be shared by up to %d replicas; use ReadWriteMany, an existingClaim, or type emptyDir" $v.modelCache.accessMode $most) -}}
{{- end -}}
{{- if and $v.modelCache.enabled (eq $v.modelCache.type "pvc") (not $v.modelCache.existingClaim) (eq $v.modelCache.accessMode "ReadOnlyMany") -}}
{{- $errors = append $errors "modelCache.accessMode: ReadOnlyMany needs an existingClaim already holding the model; the cache must be writable to download it" -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) -}}
{{- $errors = append $errors "ingress.hosts: at least one host is needed when ingress.enabled" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled $v.autoscaling.cpuFallback.enabled (not (dig "requests" "cpu" "" $v.resources)) -}}
{{- $errors = append $errors "resources.requests.cpu: autoscaling.cpuFallback measures utilisation against the CPU request; set one" -}}
{{- end -}}
{{- range $errors }}
{{ . }}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.validate: fail once with every cross-value error, so one render shows them all. */}}
{{- define "tensorrt-llm.validate" -}}
{{- $errors := include "tensorrt-llm.validate.errors" . | trim -}}
{{- if $errors -}}
{{- fail (printf "\n\ninvalid values for the tensorrt-llm chart:\n%s" $errors) -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.metrics.requestsWaiting: the server's queue-depth gauge (service/metric_names.py), the HPA signal. */}}
{{- define "tensorrt-llm.metrics.requestsWaiting" -}}
trtllm_requests_waiting
{{- end -}}

{{/* tensorrt-llm.labels.testPod: labels of the helm test pod; no app.kubernetes.io/name, so Service, PDB and anti-affinity never select it. */}}
{{- define "tensorrt-llm.labels.testPod" -}}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/component: helm-test
app.kubernetes.io/part-of: tensorrt-llm
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "tensorrt-llm.names.chart" . }}
{{- end -}}

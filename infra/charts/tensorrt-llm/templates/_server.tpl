{{/*
The server container: its port, environment, resources, cache directory and
shutdown, and whether a disruption budget helps.
*/}}

{{/* tensorrt-llm.server.port: the port the server listens on inside the pod (PORT env and containerPort). */}}
{{- define "tensorrt-llm.server.port" -}}
8000
{{- end -}}

{{/* tensorrt-llm.server.envMap: plain env vars of the server (name -> string); unset (null) values are left out so the server default applies (so is a pipeline of 1: single-stage pods keep their env). */}}
{{- define "tensorrt-llm.server.envMap" -}}
{{- $v := .Values -}}
{{- $cache := include "tensorrt-llm.modelCache.dir" . -}}
{{- $ints := dict
  "TENSOR_PARALLEL_SIZE" $v.tensorParallelSize
  "PIPELINE_PARALLEL_SIZE" (ternary $v.parallelism.pipeline nil (gt (int $v.parallelism.pipeline) 1))
  "MAX_BATCH_SIZE" $v.server.maxBatchSize
  "MAX_NUM_TOKENS" $v.server.maxNumTokens
  "MAX_SEQ_LEN" $v.server.maxSeqLen
  "MAX_CONCURRENT_REQUESTS" $v.server.maxConcurrentRequests
  "MAX_QUEUED_REQUESTS" $v.server.maxQueuedRequests
  "DRAIN_TIMEOUT_SECONDS" $v.server.drainTimeoutSeconds
  "MAX_TOKENS" $v.requestDefaults.maxTokens
  "SIMULATED_MAX_BATCH" $v.simulated.maxBatch
  "PORT" (include "tensorrt-llm.server.port" .)
-}}
{{- $numbers := dict
  "KV_CACHE_FREE_GPU_MEMORY_FRACTION" $v.server.kvCacheFreeGpuMemoryFraction
  "ENGINE_STALL_SECONDS" $v.server.engineStallSeconds
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
  "LISTED_MODEL_NAMES" (join "," $v.model.listedModels)
  "MODEL_REVISION" (ternary "" $v.model.revision (eq $v.engine "simulated"))
  "TRUST_REMOTE_CODE" (toString $v.model.trustRemoteCode)
  "LOG_LEVEL" $v.server.logLevel
  "LOG_FORMAT" $v.server.logFormat
  "HF_HOME" (printf "%s/huggingface" $cache)
-}}
{{- if $v.modelCache.prefill -}}
{{- /* The prefill Job downloaded the model: a missing one is an error, not a download per pod. */ -}}
{{- $_ := set $strings "HF_HUB_OFFLINE" "1" -}}
{{- end -}}
{{- if $v.modelCache.quantize -}}
{{- /* The quantize Job's output is what the pods load; the API still names the hub model. */ -}}
{{- $_ := set $strings "MODEL_PATH" (include "tensorrt-llm.modelCache.quantizedDir" .) -}}
{{- $_ := set $strings "MODEL_REVISION" "" -}}
{{- $_ := set $strings "SERVED_MODEL_NAME" (default $v.model.path $v.model.servedModelName) -}}
{{- end -}}
{{- if include "tensorrt-llm.multiNode.enabled" . -}}
{{- /* The group launcher (service/multinode.py): sshd port and the group's key. */ -}}
{{- $_ := set $strings "MPI_SSH_PORT" (include "tensorrt-llm.multiNode.sshPort" .) -}}
{{- $_ := set $strings "MPI_SSH_KEY_FILE" (printf "%s/id_ecdsa" (include "tensorrt-llm.multiNode.sshKeyDir" .)) -}}
{{- end -}}
{{- if $v.server.engineOptions -}}
{{- $_ := set $strings "ENGINE_OPTIONS_FILE" (include "tensorrt-llm.engineOptions.file" .) -}}
{{- end -}}
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

{{/* tensorrt-llm.engineOptions.file: where the server reads server.engineOptions (JSON, which is also YAML). */}}
{{- define "tensorrt-llm.engineOptions.file" -}}
/etc/tensorrt-llm/engine-options.json
{{- end -}}

{{/* tensorrt-llm.server.gpusPerPod: GPUs (ranks) of one pod: tensorParallelSize x parallelism.pipeline / parallelism.nodes. */}}
{{- define "tensorrt-llm.server.gpusPerPod" -}}
{{- div (mul (int .Values.tensorParallelSize) (int .Values.parallelism.pipeline)) (int .Values.parallelism.nodes) -}}
{{- end -}}

{{/* tensorrt-llm.server.memory: GPUs per pod x memoryPerRankGi + shm.sizeLimit (memory-backed, so it counts against the limit). */}}
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
{{- printf "%dGi" (add (mul (int (include "tensorrt-llm.server.gpusPerPod" .)) (int .Values.memoryPerRankGi)) $shmGi) -}}
{{- end -}}

{{/* tensorrt-llm.server.resources: container resources from values, memory sized by the pod's GPUs where unset, and exactly its GPUs (one per rank) when gpu.enabled. */}}
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
{{- $_ := set $limits .Values.gpu.resourceName (int (include "tensorrt-llm.server.gpusPerPod" .)) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- toYaml $resources -}}
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

{{/* tensorrt-llm.modelCache.dir: the writable cache directory: the model cache, or per-pod scratch space when that is off (the image keeps every cache under it). */}}
{{- define "tensorrt-llm.modelCache.dir" -}}
{{- .Values.modelCache.mountPath -}}
{{- end -}}

{{/* tensorrt-llm.pdb.enabled: "true" when more than one pod can run, the only case a budget helps. */}}
{{- define "tensorrt-llm.pdb.enabled" -}}
{{- if .Values.autoscaling.enabled -}}
{{- if gt (int .Values.autoscaling.minReplicas) 1 }}true{{ end -}}
{{- else if gt (int .Values.replicaCount) 1 -}}
true
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.modelCache.prefillJobName: the prefill Job's name, suffixed with a hash of model path and revision. */}}
{{- define "tensorrt-llm.modelCache.prefillJobName" -}}
{{- $hash := printf "%s@%s" .Values.model.path .Values.model.revision | sha256sum | trunc 10 -}}
{{- include "tensorrt-llm.names.suffixed" (dict "ctx" . "suffix" (printf "prefill-%s" $hash)) -}}
{{- end -}}

{{/* tensorrt-llm.modelCache.quantizedHash: hash of model path, revision and quantization, naming the quantize Job and its output. */}}
{{- define "tensorrt-llm.modelCache.quantizedHash" -}}
{{- printf "%s@%s@%s" .Values.model.path .Values.model.revision .Values.modelCache.quantizeJob.quantization | sha256sum | trunc 10 -}}
{{- end -}}

{{/* tensorrt-llm.modelCache.quantizeJobName: the quantize Job's name, suffixed with that hash. */}}
{{- define "tensorrt-llm.modelCache.quantizeJobName" -}}
{{- include "tensorrt-llm.names.suffixed" (dict "ctx" . "suffix" (printf "quantize-%s" (include "tensorrt-llm.modelCache.quantizedHash" .))) -}}
{{- end -}}

{{/* tensorrt-llm.modelCache.quantizedDir: where the quantize Job writes the checkpoint the server pods load. */}}
{{- define "tensorrt-llm.modelCache.quantizedDir" -}}
{{- printf "%s/quantized/%s" (include "tensorrt-llm.modelCache.dir" .) (include "tensorrt-llm.modelCache.quantizedHash" .) -}}
{{- end -}}

{{/* tensorrt-llm.modelCache.calibrationEnv: env entries naming the quantize Job's calibration text (the prefill Job downloads it, the quantize Job reads it). */}}
{{- define "tensorrt-llm.modelCache.calibrationEnv" -}}
{{- $calibration := .Values.modelCache.quantizeJob.calibration -}}
- name: CALIBRATION_DATASET
  value: {{ $calibration.dataset | quote }}
- name: CALIBRATION_REVISION
  value: {{ $calibration.revision | quote }}
- name: CALIBRATION_FILES
  value: {{ join "," $calibration.files | quote }}
{{- end -}}

{{/*
Rules across several values, which values.schema.json cannot express: collected and
`fail`ed once, so one render shows every broken rule.
*/}}

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
{{- if and (gt (int $v.parallelism.pipeline) 1) (ne $v.engine "tensorrt-llm") -}}
{{- $errors = append $errors (printf "parallelism.pipeline: %d needs engine tensorrt-llm (engine is %s)" (int $v.parallelism.pipeline) $v.engine) -}}
{{- end -}}
{{- if and (gt (int $v.parallelism.nodes) 1) (not (.Capabilities.APIVersions.Has (include "tensorrt-llm.multiNode.api" .))) -}}
{{- $errors = append $errors (printf "parallelism.nodes: %d needs the %s API in the cluster; install LeaderWorkerSet (sigs.k8s.io/lws) first" (int $v.parallelism.nodes) (include "tensorrt-llm.multiNode.api" .)) -}}
{{- end -}}
{{- $world := mul (int $v.tensorParallelSize) (int $v.parallelism.pipeline) -}}
{{- if mod $world (int $v.parallelism.nodes) -}}
{{- $errors = append $errors (printf "parallelism.nodes: %d must divide tensorParallelSize x parallelism.pipeline = %d: every node runs the same number of ranks" (int $v.parallelism.nodes) $world) -}}
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
{{- $most := mul (ternary (int $v.autoscaling.maxReplicas) (int $v.replicaCount) $v.autoscaling.enabled) (int $v.parallelism.nodes) -}}
{{- if and $v.modelCache.enabled (eq $v.modelCache.type "pvc") (not $v.modelCache.existingClaim) (gt $most 1) (has $v.modelCache.accessMode (list "ReadWriteOnce" "ReadWriteOncePod")) -}}
{{- $errors = append $errors (printf "modelCache.accessMode: %s cannot be shared by up to %d pods; use ReadWriteMany, an existingClaim, or type emptyDir" $v.modelCache.accessMode $most) -}}
{{- end -}}
{{- if and $v.modelCache.enabled (eq $v.modelCache.type "pvc") (not $v.modelCache.existingClaim) (eq $v.modelCache.accessMode "ReadOnlyMany") -}}
{{- $errors = append $errors "modelCache.accessMode: ReadOnlyMany needs an existingClaim already holding the model; the cache must be writable to download it" -}}
{{- end -}}
{{- if $v.modelCache.prefill -}}
{{- if not (and $v.modelCache.enabled (eq $v.modelCache.type "pvc")) -}}
{{- $errors = append $errors "modelCache.prefill: needs modelCache.enabled and type pvc: the Job fills a claim the pods then mount" -}}
{{- end -}}
{{- if eq $v.engine "simulated" -}}
{{- $errors = append $errors "modelCache.prefill: the simulated engine loads no model" -}}
{{- end -}}
{{- if not $v.model.revision -}}
{{- $errors = append $errors "model.revision: required with modelCache.prefill (pin a commit: the Job runs again only when path or revision change)" -}}
{{- end -}}
{{- if hasPrefix "/" $v.model.path -}}
{{- $errors = append $errors (printf "model.path: %s is a directory; modelCache.prefill downloads a hub model id" $v.model.path) -}}
{{- end -}}
{{- end -}}
{{- if and $v.modelCache.quantize (not $v.modelCache.prefill) -}}
{{- $errors = append $errors "modelCache.quantize: needs modelCache.prefill: the quantize Job runs offline on the checkpoint and calibration text the prefill Job downloads" -}}
{{- end -}}
{{- if and $v.modelCache.quantize (not $v.modelCache.quantizeJob.quantization) -}}
{{- $errors = append $errors "modelCache.quantizeJob.quantization: required with modelCache.quantize (fp8, nvfp4, w4a16_awq, ...)" -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) -}}
{{- $errors = append $errors "ingress.hosts: at least one host is needed when ingress.enabled" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled $v.autoscaling.cpuFallback.enabled (not (dig "requests" "cpu" "" $v.resources)) -}}
{{- $errors = append $errors "resources.requests.cpu: autoscaling.cpuFallback measures utilisation against the CPU request; set one" -}}
{{- end -}}
{{- if $v.spot.enabled -}}
{{- $floor := int $v.spot.onDemandReplicas -}}
{{- if not $v.spot.nodeLabels -}}
{{- $errors = append $errors "spot.nodeLabels: at least one spot node label is needed when spot.enabled" -}}
{{- end -}}
{{- if $v.autoscaling.enabled -}}
{{- if ge $floor (int $v.autoscaling.maxReplicas) -}}
{{- $errors = append $errors (printf "spot.onDemandReplicas: %d leaves no spot burst; it must be below autoscaling.maxReplicas %d" $floor (int $v.autoscaling.maxReplicas)) -}}
{{- else if gt $floor (int $v.autoscaling.minReplicas) -}}
{{- $errors = append $errors (printf "spot.onDemandReplicas: %d exceeds autoscaling.minReplicas %d; the floor is part of the minimum" $floor (int $v.autoscaling.minReplicas)) -}}
{{- else if and (eq $v.autoscaling.mode "hpa") (eq $floor (int $v.autoscaling.minReplicas)) -}}
{{- $errors = append $errors (printf "autoscaling.minReplicas: %d must exceed spot.onDemandReplicas in mode hpa: an HPA cannot hold the spot Deployment at zero (use mode keda)" (int $v.autoscaling.minReplicas)) -}}
{{- end -}}
{{- else if ge $floor (int $v.replicaCount) -}}
{{- $errors = append $errors (printf "spot.onDemandReplicas: %d leaves no spot replicas; it must be below replicaCount %d" $floor (int $v.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- range $errors }}
{{ . }}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.validate: fail once with every cross-value error, so one render shows them all. */}}
{{- define "tensorrt-llm.validate" -}}
{{- $errors := printf "%s\n%s" (include "tensorrt-llm.validate.errors" .) (include "tensorrt-llm.inference.errors" .) | trim -}}
{{- $errors = regexReplaceAll "\n+" $errors "\n" -}}
{{- if $errors -}}
{{- fail (printf "\n\ninvalid values for the tensorrt-llm chart:\n%s" $errors) -}}
{{- end -}}
{{- end -}}

{{/*
The Kubernetes inference stack: KEDA autoscaling and Gateway API Inference Extension
routing. Upstream facts (API groups, EPP flags and plugins) are recorded in
docs/ecosystem.md with the repository, path and commit they were read from.
*/}}

{{/* tensorrt-llm.keda.api: the ScaledObject API the Capabilities check and the template name. */}}
{{- define "tensorrt-llm.keda.api" -}}
keda.sh/v1alpha1/ScaledObject
{{- end -}}

{{/* tensorrt-llm.inferencePool.apis: the APIs routing.mode inferencePool renders objects of. */}}
{{- define "tensorrt-llm.inferencePool.apis" -}}
{{- list "inference.networking.k8s.io/v1/InferencePool" "gateway.networking.k8s.io/v1/HTTPRoute" | toYaml -}}
{{- end -}}

{{/* tensorrt-llm.inferencePool.engineType: the EPP's metrics dialect for this server (pod label and default engine). */}}
{{- define "tensorrt-llm.inferencePool.engineType" -}}
trtllm-serve
{{- end -}}

{{/* tensorrt-llm.inferencePool.engineLabel: the pod label the EPP reads the metrics dialect from. */}}
{{- define "tensorrt-llm.inferencePool.engineLabel" -}}
inference.networking.k8s.io/engine-type: {{ include "tensorrt-llm.inferencePool.engineType" . }}
{{- end -}}

{{/* tensorrt-llm.epp.name: name of the endpoint picker's Deployment, Service, ConfigMap, ServiceAccount and Role. */}}
{{- define "tensorrt-llm.epp.name" -}}
{{- include "tensorrt-llm.names.suffixed" (dict "ctx" . "suffix" "epp") -}}
{{- end -}}

{{/* tensorrt-llm.epp.selectorLabels: labels the EPP Deployment and Service select on; component keeps them apart from the server's. */}}
{{- define "tensorrt-llm.epp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tensorrt-llm.names.name" . }}-epp
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* tensorrt-llm.epp.labels: full label set of the EPP's objects. */}}
{{- define "tensorrt-llm.epp.labels" -}}
{{ include "tensorrt-llm.epp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.routing.inferencePool.endpointPicker.image.tag | trunc 63 | quote }}
app.kubernetes.io/component: endpoint-picker
app.kubernetes.io/part-of: tensorrt-llm
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "tensorrt-llm.names.chart" . }}
{{- end -}}

{{/* tensorrt-llm.epp.metadata: name, namespace and labels of an EPP object. */}}
{{- define "tensorrt-llm.epp.metadata" -}}
name: {{ include "tensorrt-llm.epp.name" . }}
namespace: {{ .Release.Namespace }}
labels:
  {{- include "tensorrt-llm.epp.labels" . | nindent 2 }}
{{- end -}}

{{/* tensorrt-llm.epp.ports: the EPP's ports (ext-proc gRPC for the gateway, gRPC health, Prometheus metrics). */}}
{{- define "tensorrt-llm.epp.ports" -}}
extProc: 9002
health: 9003
metrics: 9090
{{- end -}}

{{/* tensorrt-llm.inference.errors: rules of the autoscaling and routing choices, one message per broken rule (joined into tensorrt-llm.validate). */}}
{{- define "tensorrt-llm.inference.errors" -}}
{{- $v := .Values -}}
{{- $scaling := $v.autoscaling -}}
{{- $routing := $v.routing -}}
{{- if and $scaling.enabled (eq $scaling.mode "keda") (not (.Capabilities.APIVersions.Has (include "tensorrt-llm.keda.api" .))) }}
autoscaling.mode: keda needs KEDA's {{ include "tensorrt-llm.keda.api" . }} API in the cluster; install KEDA (the program's keda.install) or use mode hpa
{{- end }}
{{- if eq $routing.mode "inferencePool" }}
{{- range include "tensorrt-llm.inferencePool.apis" . | fromYamlArray }}
{{- if not ($.Capabilities.APIVersions.Has .) }}
routing.mode: inferencePool needs the {{ . }} API in the cluster; install the Gateway API and Inference Extension CRDs or use routing.mode service
{{- end }}
{{- end }}
{{- end }}
{{- if and $scaling.enabled (eq (int $scaling.minReplicas) 0) }}
{{- if ne $scaling.mode "keda" }}
autoscaling.minReplicas: 0 needs autoscaling.mode keda (an HPA never scales to zero)
{{- else if not (and (eq $routing.mode "inferencePool") $routing.inferencePool.endpointPicker.flowControl.enabled) }}
autoscaling.minReplicas: 0 needs routing.mode inferencePool with flow control on the endpoint picker: with no pod nothing exports the queue, and only the endpoint picker's held requests can wake the server
{{- end }}
{{- end }}
{{- if and $scaling.enabled (eq $scaling.mode "keda") $scaling.cpuFallback.enabled }}
autoscaling.cpuFallback.enabled: mode hpa only; KEDA's fallback (autoscaling.keda.fallbackReplicas) covers a Prometheus outage
{{- end }}
{{- if and (eq $routing.mode "inferencePool") $v.ingress.enabled }}
ingress.enabled: routing.mode inferencePool sends clients through the Gateway's HTTPRoute; an Ingress would bypass the endpoint picker
{{- end }}
{{- end -}}

{{/* tensorrt-llm.autoscaling.behavior: HPA scaling behaviour shared by the HPA and KEDA's ScaledObject: slow up (model loads take minutes), slower down. */}}
{{- define "tensorrt-llm.autoscaling.behavior" -}}
scaleUp:
  # A new pod needs minutes to load the model: add one at a time, at most every 2 minutes.
  stabilizationWindowSeconds: 0
  policies:
    - type: Pods
      value: 1
      periodSeconds: 120
scaleDown:
  # Scaling down drops a loaded model; wait out short lulls first.
  stabilizationWindowSeconds: {{ .Values.autoscaling.scaleDownStabilizationSeconds }}
  policies:
    - type: Pods
      value: 1
      periodSeconds: 300
{{- end -}}

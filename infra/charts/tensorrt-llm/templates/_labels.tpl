{{/*
Labels and the metadata block every namespaced object starts with. Selector labels
are minimal and separate from the full set: selectors cannot change after creation.
*/}}

{{/* tensorrt-llm.labels.instance: the release's instance label, on server and test pods alike. */}}
{{- define "tensorrt-llm.labels.instance" -}}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* tensorrt-llm.labels.ownership: who the object belongs to and what manages it. */}}
{{- define "tensorrt-llm.labels.ownership" -}}
app.kubernetes.io/part-of: tensorrt-llm
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "tensorrt-llm.names.chart" . }}
{{- end -}}

{{/* tensorrt-llm.labels.selector: the minimal, immutable labels Deployment and Service select on. */}}
{{- define "tensorrt-llm.labels.selector" -}}
app.kubernetes.io/name: {{ include "tensorrt-llm.names.name" . }}
{{ include "tensorrt-llm.labels.instance" . }}
{{- end -}}

{{/* tensorrt-llm.labels.standard: the full app.kubernetes.io label set for every object's metadata. */}}
{{- define "tensorrt-llm.labels.standard" -}}
{{ include "tensorrt-llm.labels.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: inference-server
{{ include "tensorrt-llm.labels.ownership" . }}
{{- end -}}

{{/* tensorrt-llm.labels.testPod: labels of the helm test pod; no app.kubernetes.io/name, so Service, PDB and anti-affinity never select it. */}}
{{- define "tensorrt-llm.labels.testPod" -}}
{{ include "tensorrt-llm.labels.instance" . }}
app.kubernetes.io/component: helm-test
{{ include "tensorrt-llm.labels.ownership" . }}
{{- end -}}

{{/* tensorrt-llm.labels.prefillPod: labels of the model cache prefill Job and its pod; no app.kubernetes.io/name, so the Service and PDB never select it. */}}
{{- define "tensorrt-llm.labels.prefillPod" -}}
{{ include "tensorrt-llm.labels.instance" . }}
app.kubernetes.io/component: model-cache-prefill
{{ include "tensorrt-llm.labels.ownership" . }}
{{- end -}}

{{/* tensorrt-llm.labels.quantizePod: labels of the model cache quantize Job and its pod; not a server pod, and not the prefill pod (no hub egress). */}}
{{- define "tensorrt-llm.labels.quantizePod" -}}
{{ include "tensorrt-llm.labels.instance" . }}
app.kubernetes.io/component: model-cache-quantize
{{ include "tensorrt-llm.labels.ownership" . }}
{{- end -}}

{{/* tensorrt-llm.metadata.common: name, namespace and labels of a namespaced object (dict: ctx, suffix). */}}
{{- define "tensorrt-llm.metadata.common" -}}
name: {{ if .suffix }}{{ include "tensorrt-llm.names.suffixed" . }}{{ else }}{{ include "tensorrt-llm.names.fullname" .ctx }}{{ end }}
namespace: {{ .ctx.Release.Namespace }}
labels:
  {{- include "tensorrt-llm.labels.standard" .ctx | nindent 2 }}
{{- end -}}

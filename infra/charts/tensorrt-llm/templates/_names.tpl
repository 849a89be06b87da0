{{/*
Names of the chart's objects, each 63 characters at most (DNS-1123 labels).
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

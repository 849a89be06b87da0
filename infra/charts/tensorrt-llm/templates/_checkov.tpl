{{/*
checkov findings kept on purpose, each with its reason (checkov reads
checkov.io/skip<N>: <check>=<reason> annotations). tests/chart runs checkov and
fails on any finding without one of these.
*/}}

{{/* tensorrt-llm.checkov.serverSkips: skip annotations of the server Deployment. */}}
{{- define "tensorrt-llm.checkov.serverSkips" -}}
{{- end -}}

{{/* tensorrt-llm.checkov.testPodSkips: skip annotations of the helm test pod. */}}
{{- define "tensorrt-llm.checkov.testPodSkips" -}}
{{- end -}}

{{/*
The server's Deployment, rendered twice when spot capacity is on: deployment.yaml (the
on-demand pods) and deployment-spot.yaml (the spot burst). One pod spec
(tensorrt-llm.pod.template, shared with multi-node groups) serves both; the
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
    {{- include "tensorrt-llm.pod.template" (dict "ctx" . "role" "server") | nindent 4 }}
{{- end -}}

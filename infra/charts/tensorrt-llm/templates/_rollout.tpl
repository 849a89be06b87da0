{{/*
Replicas and rollout strategy of the server's Deployment, shaped for Helm's wait.
Helm 3 (pkg/kube/ready.go) counts a Deployment ready once its new ReplicaSet has
`spec.replicas - maxUnavailable` ready pods; with replicas left out (the usual HPA
advice, which defaults it to 1) and maxUnavailable 1 that is zero pods, and a first
install "succeeds" before any model has loaded.
*/}}

{{/* Desired pods (groups, multi-node): replicaCount, or under the autoscaler the count it
chose (read from the live Deployment or LeaderWorkerSet, so an upgrade never resets it)
and never below its minimum. Offline renders (no cluster) show the minimum. With spot
capacity the on-demand Deployment holds the floor and the spot one the rest. */}}
{{- define "tensorrt-llm.rollout.replicas" -}}
{{- $floor := int (include "tensorrt-llm.spot.floor" .) -}}
{{- if and .Values.spot.enabled (not (include "tensorrt-llm.spot.pods" .)) -}}
{{- $floor -}}
{{- else if .Values.autoscaling.enabled -}}
{{- $current := 0 -}}
{{- $target := include "tensorrt-llm.scaleTarget" . | fromYaml -}}
{{- $live := lookup $target.apiVersion $target.kind .Release.Namespace $target.name -}}
{{- if and $live $live.spec $live.spec.replicas -}}
{{- $current = int $live.spec.replicas -}}
{{- end -}}
{{- max (int (include "tensorrt-llm.autoscaling.minReplicas" .)) $current -}}
{{- else -}}
{{- sub (int .Values.replicaCount) $floor -}}
{{- end -}}
{{- end -}}

{{/* The rolling update. A first install replaces nothing, so it allows no unavailable
pod: Helm then waits for every replica to be ready. Upgrades use the configured
values (a full GPU quota needs maxSurge 0, maxUnavailable 1). */}}
{{- define "tensorrt-llm.rollout.rollingUpdate" -}}
{{- if include "tensorrt-llm.spot.pods" . -}}
# Spot pods roll all at once and add none: Helm's wait then never depends on spot
# capacity (which may not exist), and the quota holds no surge for them.
maxSurge: 0
maxUnavailable: 100%
{{- else if .Release.IsInstall -}}
# First install: every replica must be ready before Helm reports success; upgrades
# roll with maxSurge {{ .Values.rollingUpdate.maxSurge }}, maxUnavailable {{ .Values.rollingUpdate.maxUnavailable }}.
maxSurge: {{ if eq (toString .Values.rollingUpdate.maxSurge) "0" }}1{{ else }}{{ .Values.rollingUpdate.maxSurge }}{{ end }}
maxUnavailable: 0
{{- else -}}
maxSurge: {{ .Values.rollingUpdate.maxSurge }}
maxUnavailable: {{ .Values.rollingUpdate.maxUnavailable }}
{{- end -}}
{{- end -}}

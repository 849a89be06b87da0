{{/*
Spot capacity: an on-demand floor (deployment.yaml, spot.onDemandReplicas pods that
avoid spot nodes) plus a spot burst (deployment-spot.yaml, on spot nodes only, at a
lower priority), both behind the same Service, InferencePool and disruption budget.
The autoscaler scales only the spot Deployment, so every replica it adds is a spot one.
*/}}

{{/* tensorrt-llm.spot.pods: "true" when the context renders the spot Deployment. */}}
{{- define "tensorrt-llm.spot.pods" -}}
{{- if eq (toString (get . "capacity")) "spot" }}true{{ end -}}
{{- end -}}

{{/* tensorrt-llm.spot.suffix: the name suffix of the context's Deployment ("" for the on-demand one). */}}
{{- define "tensorrt-llm.spot.suffix" -}}
{{- if include "tensorrt-llm.spot.pods" . }}spot{{ end -}}
{{- end -}}

{{/* tensorrt-llm.spot.capacityLabel: the pod label telling floor and spot pods apart; only with spot.enabled, so turning spot on changes no pod of a stack without it. */}}
{{- define "tensorrt-llm.spot.capacityLabel" -}}
{{- if .Values.spot.enabled -}}
tensorrt-llm/capacity: {{ ternary "spot" "on-demand" (eq (include "tensorrt-llm.spot.pods" .) "true") }}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.spot.priorityClassName: spot pods' lower class, else priorityClassName. */}}
{{- define "tensorrt-llm.spot.priorityClassName" -}}
{{- if include "tensorrt-llm.spot.pods" . -}}
{{- .Values.spot.priorityClassName -}}
{{- else -}}
{{- .Values.priorityClassName -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.spot.floor: pods outside the autoscaler's reach: the on-demand floor with spot, none without. */}}
{{- define "tensorrt-llm.spot.floor" -}}
{{- ternary (int .Values.spot.onDemandReplicas) 0 .Values.spot.enabled -}}
{{- end -}}

{{/* tensorrt-llm.autoscaling.target: the Deployment the HPA or ScaledObject scales: the spot one when spot is on. */}}
{{- define "tensorrt-llm.autoscaling.target" -}}
{{- if .Values.spot.enabled -}}
{{- include "tensorrt-llm.names.suffixed" (dict "ctx" . "suffix" "spot") -}}
{{- else -}}
{{- include "tensorrt-llm.names.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.autoscaling.minReplicas: the autoscaler's floor: autoscaling.minReplicas less the on-demand floor. */}}
{{- define "tensorrt-llm.autoscaling.minReplicas" -}}
{{- max 0 (sub (int .Values.autoscaling.minReplicas) (int (include "tensorrt-llm.spot.floor" .))) -}}
{{- end -}}

{{/* tensorrt-llm.autoscaling.maxReplicas: the autoscaler's ceiling: autoscaling.maxReplicas less the on-demand floor. */}}
{{- define "tensorrt-llm.autoscaling.maxReplicas" -}}
{{- max 0 (sub (int .Values.autoscaling.maxReplicas) (int (include "tensorrt-llm.spot.floor" .))) -}}
{{- end -}}

{{/* tensorrt-llm.spot.nodeAffinity: nodeAffinity with the spot terms merged in: spot pods need one of spot.nodeLabels (each existing term is combined with each label), on-demand pods none of them. */}}
{{- define "tensorrt-llm.spot.nodeAffinity" -}}
{{- $node := deepCopy (default (dict) .affinity) -}}
{{- $required := default (dict) (get $node "requiredDuringSchedulingIgnoredDuringExecution") -}}
{{- $terms := default (list (dict)) (get $required "nodeSelectorTerms") -}}
{{- $labels := .ctx.Values.spot.nodeLabels -}}
{{- $merged := list -}}
{{- range $term := $terms -}}
{{- $expressions := default (list) (get $term "matchExpressions") -}}
{{- if include "tensorrt-llm.spot.pods" $.ctx -}}
{{- range $labels -}}
{{- $spot := dict "key" .key "operator" "In" "values" (list .value) -}}
{{- $merged = append $merged (merge (dict "matchExpressions" (append $expressions $spot)) $term) -}}
{{- end -}}
{{- else -}}
{{- range $labels -}}
{{- $expressions = append $expressions (dict "key" .key "operator" "NotIn" "values" (list .value)) -}}
{{- end -}}
{{- $merged = append $merged (merge (dict "matchExpressions" $expressions) $term) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $required "nodeSelectorTerms" $merged -}}
{{- $_ := set $node "requiredDuringSchedulingIgnoredDuringExecution" $required -}}
{{- toYaml $node -}}
{{- end -}}

{{/*
Where server pods may run: tolerations, affinity and topology spread.
*/}}

{{/* tensorrt-llm.placement.tolerations: user tolerations, the GPU taint toleration when GPUs are requested, and the spot nodes' taints for spot pods. */}}
{{- define "tensorrt-llm.placement.tolerations" -}}
{{- $tolerations := .Values.tolerations -}}
{{- if .Values.gpu.enabled -}}
{{- $tolerations = append $tolerations (dict "key" .Values.gpu.resourceName "operator" "Exists" "effect" "NoSchedule") -}}
{{- end -}}
{{- if include "tensorrt-llm.spot.pods" . -}}
{{- $tolerations = concat $tolerations .Values.spot.tolerations -}}
{{- end -}}
{{- if $tolerations -}}
{{- toYaml $tolerations -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.placement.affinity: GPU placement affinity from values with the pod anti-affinity terms and the spot node terms merged in, never replacing it (dict: ctx, role). A multi-node group's pods never share a node: each runs its own ranks' NCCL traffic over the node's fabric. */}}
{{- define "tensorrt-llm.placement.affinity" -}}
{{- $ctx := .ctx -}}
{{- $affinity := deepCopy $ctx.Values.affinity -}}
{{- if $ctx.Values.spot.enabled -}}
{{- $_ := set $affinity "nodeAffinity" (include "tensorrt-llm.spot.nodeAffinity" (dict "ctx" $ctx "affinity" (get $affinity "nodeAffinity")) | fromYaml) -}}
{{- end -}}
{{- $anti := default (dict) (get $affinity "podAntiAffinity") -}}
{{- if ne .role "server" -}}
{{- $groupKey := include "tensorrt-llm.multiNode.groupKeyLabel" $ctx -}}
{{- /* The set's pods, narrowed to this pod's group by its group-key value (matchLabelKeys; the API refuses the key in both). */ -}}
{{- $set := dict (include "tensorrt-llm.multiNode.setLabel" $ctx) (include "tensorrt-llm.multiNode.name" $ctx) -}}
{{- $group := dict "topologyKey" "kubernetes.io/hostname" "matchLabelKeys" (list $groupKey) "labelSelector" (dict "matchLabels" $set) -}}
{{- $terms := default (list) (get $anti "requiredDuringSchedulingIgnoredDuringExecution") -}}
{{- $_ := set $anti "requiredDuringSchedulingIgnoredDuringExecution" (append $terms $group) -}}
{{- $_ := set $affinity "podAntiAffinity" $anti -}}
{{- end -}}
{{- if $ctx.Values.podAntiAffinity.enabled -}}
{{- $term := dict "topologyKey" $ctx.Values.podAntiAffinity.topologyKey "labelSelector" (dict "matchLabels" (include "tensorrt-llm.labels.selector" $ctx | fromYaml)) -}}
{{- if eq $ctx.Values.podAntiAffinity.type "hard" -}}
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

{{/*
Multi-node instances: one model instance over parallelism.nodes pods, run as a
LeaderWorkerSet group (sigs.k8s.io/lws). The leader serves HTTP and runs mpirun over
the group; workers host the other ranks. See docs/tensorrt-llm-api.md for the launch.
*/}}

{{/* tensorrt-llm.multiNode.enabled: "true" when one instance spans several pods. */}}
{{- define "tensorrt-llm.multiNode.enabled" -}}
{{- if gt (int .Values.parallelism.nodes) 1 }}true{{ end -}}
{{- end -}}

{{/* tensorrt-llm.multiNode.api: the LeaderWorkerSet API the Capabilities check names. */}}
{{- define "tensorrt-llm.multiNode.api" -}}
leaderworkerset.x-k8s.io/v1/LeaderWorkerSet
{{- end -}}

{{/* tensorrt-llm.multiNode.name: the LeaderWorkerSet's name, which LWS also gives the group's headless Service and the pods' subdomain; never the client Service's name. */}}
{{- define "tensorrt-llm.multiNode.name" -}}
{{- include "tensorrt-llm.names.suffixed" (dict "ctx" . "suffix" "group") -}}
{{- end -}}

{{/* tensorrt-llm.multiNode.sshPort: the workers' sshd port (unprivileged: the pods run as non-root). */}}
{{- define "tensorrt-llm.multiNode.sshPort" -}}
2222
{{- end -}}

{{/* tensorrt-llm.multiNode.sshKeyDir: where the group's SSH key Secret is mounted. */}}
{{- define "tensorrt-llm.multiNode.sshKeyDir" -}}
/etc/tensorrt-llm/mpi-ssh
{{- end -}}

{{/* tensorrt-llm.multiNode.groupKeyLabel: the label LWS puts on every pod of one group (its value is the group's hash). */}}
{{- define "tensorrt-llm.multiNode.groupKeyLabel" -}}
leaderworkerset.sigs.k8s.io/group-key
{{- end -}}

{{/* tensorrt-llm.multiNode.setLabel: the label LWS puts on every pod of the set. */}}
{{- define "tensorrt-llm.multiNode.setLabel" -}}
leaderworkerset.sigs.k8s.io/name
{{- end -}}

{{/* tensorrt-llm.labels.serving: the labels of pods that serve HTTP: every server pod, or only the leaders of multi-node groups (LWS gives leaders worker-index 0). */}}
{{- define "tensorrt-llm.labels.serving" -}}
{{ include "tensorrt-llm.labels.selector" . }}
{{- if include "tensorrt-llm.multiNode.enabled" . }}
leaderworkerset.sigs.k8s.io/worker-index: "0"
{{- end }}
{{- end -}}

{{/* tensorrt-llm.scaleTarget: apiVersion, kind and name of what the autoscaler scales: the Deployment (the spot one with spot capacity), or the LeaderWorkerSet through its scale subresource (whole groups). */}}
{{- define "tensorrt-llm.scaleTarget" -}}
{{- if include "tensorrt-llm.multiNode.enabled" . -}}
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
name: {{ include "tensorrt-llm.multiNode.name" . }}
{{- else -}}
apiVersion: apps/v1
kind: Deployment
name: {{ include "tensorrt-llm.autoscaling.target" . }}
{{- end -}}
{{- end -}}

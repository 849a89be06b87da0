{{/*
checkov findings kept on purpose, each with its reason. checkov reads annotations
checkov.io/skip<N>: "<check>=<reason>"; tests/chart runs checkov over every scenario
and fails on any finding without one. Skips whose cause depends on values are emitted
only while that cause is present. Each check keeps one fixed <N>.
*/}}

{{/* tensorrt-llm.checkov.imageSkips: skips shared by every pod running the server image. */}}
{{- define "tensorrt-llm.checkov.imageSkips" -}}
checkov.io/skip1: "CKV2_K8S_6=NetworkPolicies are namespace-wide and come from the Pulumi program (infra/namespace.py), not from this chart"
checkov.io/skip2: "CKV_K8S_40=uid 1000 is the trtllm user baked into the server image (service/Dockerfile); runAsNonRoot, no privilege escalation and no capabilities already apply"
{{- if not .Values.image.digest }}
checkov.io/skip3: "CKV_K8S_43=image.digest is empty, so the tag is used (manual installs); the Pulumi program always sets the digest of the image it built"
{{- end }}
{{- end -}}

{{/* tensorrt-llm.checkov.serverSkips: skip annotations of the server Deployment. */}}
{{- define "tensorrt-llm.checkov.serverSkips" -}}
{{- include "tensorrt-llm.checkov.imageSkips" . }}
{{- if not (dig "limits" "cpu" "" .Values.resources) }}
checkov.io/skip4: "CKV_K8S_11=no CPU limit by default: CFS throttling of the engine's scheduler thread shows up directly as token latency; set resources.limits.cpu to add one"
{{- end }}
{{- if or .Values.secrets.hfToken.name .Values.secrets.apiKeys.name }}
checkov.io/skip5: "CKV_K8S_35=huggingface_hub reads HF_TOKEN and the server reads API_KEYS from the environment; secretKeyRef keeps the values out of the manifest and Helm release"
{{- end }}
{{- end -}}

{{/* tensorrt-llm.checkov.prefillJobSkips: skip annotations of the model cache prefill Job. */}}
{{- define "tensorrt-llm.checkov.prefillJobSkips" -}}
{{- include "tensorrt-llm.checkov.imageSkips" . }}
{{- end -}}

{{/* tensorrt-llm.checkov.testPodSkips: skip annotations of the helm test pod. */}}
{{- define "tensorrt-llm.checkov.testPodSkips" -}}
{{- include "tensorrt-llm.checkov.imageSkips" . }}
checkov.io/skip4: "CKV_K8S_8=one-shot helm test pod that exits within seconds; a liveness probe has nothing to restart"
checkov.io/skip5: "CKV_K8S_9=one-shot helm test pod that no Service routes to; readiness means nothing for it"
{{- end -}}

{{/* tensorrt-llm.checkov.eppSkips: skip annotations of the endpoint picker Deployment. */}}
{{- define "tensorrt-llm.checkov.eppSkips" -}}
checkov.io/skip1: "CKV2_K8S_6=NetworkPolicies are namespace-wide and come from the Pulumi program (infra/namespace.py), not from this chart"
{{- if not .Values.routing.inferencePool.endpointPicker.image.digest }}
checkov.io/skip3: "CKV_K8S_43=upstream publishes the endpoint picker by release tag; set routing.inferencePool.endpointPicker.image.digest to pin the digest your registry mirror serves"
{{- end }}
{{- if not (dig "limits" "cpu" "" .Values.routing.inferencePool.endpointPicker.resources) }}
checkov.io/skip4: "CKV_K8S_11=no CPU limit, as upstream sizes the endpoint picker: scheduling bursts at high request rates would otherwise be throttled into routing latency"
{{- end }}
checkov.io/skip6: "CKV_K8S_38=the endpoint picker watches its InferencePool and the pods it selects through the Kubernetes API (namespaced read-only Role)"
{{- end -}}

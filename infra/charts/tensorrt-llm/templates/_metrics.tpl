{{/*
Names of the server's metrics that templates refer to (service/metric_names.py owns them).
*/}}

{{/* tensorrt-llm.metrics.requestsWaiting: the server's queue-depth gauge (service/metric_names.py), the autoscaling signal. */}}
{{- define "tensorrt-llm.metrics.requestsWaiting" -}}
trtllm_num_requests_waiting
{{- end -}}

{{/* tensorrt-llm.metrics.modelName: the model_name label of the server's series: the name clients send (the server's default when unset). */}}
{{- define "tensorrt-llm.metrics.modelName" -}}
{{- .Values.model.servedModelName | default .Values.model.path -}}
{{- end -}}

{{/*
The server image: reference and pull policy.
*/}}

{{/* tensorrt-llm.image.reference: repository@digest when a digest is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "tensorrt-llm.image.reference" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* tensorrt-llm.image.pullPolicy: image.pullPolicy, else IfNotPresent for a digest and Always for a (movable) tag. */}}
{{- define "tensorrt-llm.image.pullPolicy" -}}
{{- if .Values.image.pullPolicy -}}
{{- .Values.image.pullPolicy -}}
{{- else if .Values.image.digest -}}
IfNotPresent
{{- else -}}
Always
{{- end -}}
{{- end -}}

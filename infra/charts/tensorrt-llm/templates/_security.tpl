{{/*
Security contexts (Pod Security "restricted") and the image user they run as.
*/}}

{{/* tensorrt-llm.security.imageUser: uid, and gid, of the trtllm user baked into the server image (service/Dockerfile). */}}
{{- define "tensorrt-llm.security.imageUser" -}}
1000
{{- end -}}

{{/* tensorrt-llm.security.pod: restricted pod securityContext, running as the image's user. */}}
{{- define "tensorrt-llm.security.pod" -}}
{{- $user := include "tensorrt-llm.security.imageUser" . }}
runAsNonRoot: true
runAsUser: {{ $user }}
runAsGroup: {{ $user }}
fsGroup: {{ $user }}
# A model cache holds thousands of files: chown them only when the volume root is wrong.
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* tensorrt-llm.security.container: restricted container securityContext with a read-only root filesystem. */}}
{{- define "tensorrt-llm.security.container" -}}
{{- $user := include "tensorrt-llm.security.imageUser" . }}
runAsNonRoot: true
runAsUser: {{ $user }}
runAsGroup: {{ $user }}
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

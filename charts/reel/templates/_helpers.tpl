{{- define "reel.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{ end }}
{{- end -}}

{{- define "reel.labels" -}}
app.kubernetes.io/name: reel
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "reel.selector" -}}
app.kubernetes.io/name: reel
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "reel.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{ .root.Values.image.repository }}:{{ $tag }}{{ if .cuda }}-cuda{{ end }}
{{- end -}}

{{- define "reel.secretName" -}}{{ include "reel.fullname" . }}-secrets{{- end -}}
{{- define "reel.redisSecret" -}}{{ .Values.redis.existingSecret | default (include "reel.secretName" .) }}{{- end -}}
{{- define "reel.redisKey" -}}{{ if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}redis{{ end }}{{- end -}}
{{- define "reel.blobSecret" -}}{{ .Values.blob.existingSecret | default (include "reel.secretName" .) }}{{- end -}}
{{- define "reel.blobKey" -}}{{ if .Values.blob.existingSecret }}{{ .Values.blob.existingSecretKey }}{{ else }}blob{{ end }}{{- end -}}
{{- define "reel.hasBlob" -}}{{ if or .Values.blob.existingSecret .Values.blob.connectionString }}true{{ end }}{{- end -}}
{{- define "reel.tenantsSecret" -}}{{ .Values.tenants.existingSecret | default (printf "%s-tenants" (include "reel.fullname" .)) }}{{- end -}}
{{- define "reel.operatorSecret" -}}{{ .Values.operatorTokenSecret | default (printf "%s-operator" (include "reel.fullname" .)) }}{{- end -}}
{{- define "reel.contentUrlSecret" -}}{{ .Values.gateway.contentUrlKeySecret | default (printf "%s-content-url" (include "reel.fullname" .)) }}{{- end -}}

{{/* What every Reel pod needs to find the cluster: ids, Redis, blob storage. Secrets only by reference. */}}
{{- define "reel.clusterEnv" -}}
- name: REEL__CLUSTERID
  valueFrom: {configMapKeyRef: {name: {{ include "reel.fullname" . }}-config, key: clusterId}}
- name: REEL__SERVICEID
  valueFrom: {configMapKeyRef: {name: {{ include "reel.fullname" . }}-config, key: serviceId}}
- name: REEL__BLOBCONTAINER
  valueFrom: {configMapKeyRef: {name: {{ include "reel.fullname" . }}-config, key: blobContainer}}
- name: REEL__REDIS
  valueFrom: {secretKeyRef: {name: {{ include "reel.redisSecret" . }}, key: {{ include "reel.redisKey" . }}}}
{{- if include "reel.hasBlob" . }}
- name: REEL__BLOB
  valueFrom: {secretKeyRef: {name: {{ include "reel.blobSecret" . }}, key: {{ include "reel.blobKey" . }}}}
{{- end }}
{{- end -}}

{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "scorefleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: <release>-scorefleet unless the release name already says scorefleet. */}}
{{- define "scorefleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of cluster-scoped objects: the release namespace is part of it, so the chart can be
installed once per namespace without two releases claiming the same ClusterRole. */}}
{{- define "scorefleet.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "scorefleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scorefleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator pods (immutable once the Deployment exists). */}}
{{- define "scorefleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scorefleet.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "scorefleet.labels" -}}
helm.sh/chart: {{ include "scorefleet.chart" . }}
{{ include "scorefleet.selectorLabels" . }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: scorefleet
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "scorefleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scorefleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag or repository@digest; the tag defaults to the chart's appVersion. */}}
{{- define "scorefleet.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .appVersion .image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "scorefleet.operatorImage" -}}
{{- include "scorefleet.imageRef" (dict "image" .Values.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{- define "scorefleet.scorerImage" -}}
{{- include "scorefleet.imageRef" (dict "image" .Values.scorer.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{/* "true" when kopf peering is on: more than one replica, or asked for. */}}
{{- define "scorefleet.peering" -}}
{{- if or .Values.peering.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* "true" when the operator watches every namespace. */}}
{{- define "scorefleet.clusterwide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/*
The RBAC rules are the operator's own deploy/rbac.yaml (tests/integration/chart checks they are
equal; that file says why each rule is needed), split by scope:
- "scorefleet.rules": per namespace served (a Role per watched namespace, or the ClusterRole);
- "scorefleet.scanningRules": cluster-scoped reads kopf uses to discover resources (CRDs) and
  follow namespaces; with a namespaced install they go in a small read-only ClusterRole
  (rbac.clusterScanning), without it kopf logs a warning and works from its start-up scan.
The cluster-scoped clusterkopfpeerings are granted only to an all-namespaces install.
*/}}
{{- define "scorefleet.scanningRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}

{{- define "scorefleet.rules" -}}
- apiGroups: [scorefleet.io]
  resources: [detectionpipelines]
  verbs: [get, list, watch, patch]
- apiGroups: [scorefleet.io]
  resources: [detectionpipelines/status]
  verbs: [get, patch]
- apiGroups: [scorefleet.io]
  resources: [detectionpipelines/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [configmaps, services, serviceaccounts]
  verbs: [get, list, watch, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [kopf.dev]
  resources: [{{ if .clusterwide }}clusterkopfpeerings, {{ end }}kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}

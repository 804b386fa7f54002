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
The rules the operator needs in each namespace it serves (the same set in a ClusterRole when it
watches all namespaces). Derived from what the operator does:
- DetectionPipelines: watched (kopf on.event) and read; status written by server-side apply.
- Children (Deployment, ConfigMap, Service, ServiceAccount, PodDisruptionBudget): watched by
  label, read, created and repaired by server-side apply (a PATCH, which also creates); deleted
  only by garbage collection through ownerReferences, so no delete.
- Pods: watched to surface crash loops and termination messages as Degraded.
- Events: posted about pipelines (the operator's and kopf's).
*/}}
{{- define "scorefleet.namespacedRules" -}}
- apiGroups: [scorefleet.io]
  resources: [detectionpipelines]
  verbs: [get, list, watch]
- apiGroups: [scorefleet.io]
  resources: [detectionpipelines/status]
  verbs: [patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [configmaps, services, serviceaccounts]
  verbs: [get, list, watch, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* kopf peering: keep-alives are patched into the peering object's status. */}}
{{- define "scorefleet.peeringRules" -}}
- apiGroups: [kopf.dev]
  resources: [{{ if .clusterwide }}clusterkopfpeerings{{ else }}kopfpeerings{{ end }}]
  verbs: [get, list, watch, patch]
{{- end }}

{{/* Cluster-wide only: kopf observes CRDs to notice resources (re)appearing. */}}
{{- define "scorefleet.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end }}

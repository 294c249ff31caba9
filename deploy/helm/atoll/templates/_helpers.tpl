{{/*
The chart's name, and the release's full name: at most 52 characters, as a
StatefulSet's name ends up in a label with a hash after it (63 at most).
*/}}
{{- define "atoll.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "atoll.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "atoll.selectorLabels" -}}
app.kubernetes.io/name: {{ include "atoll.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "atoll.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "atoll.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "atoll.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "atoll.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the secret flags come from. */}}
{{- define "atoll.secretName" -}}
{{- default (include "atoll.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* Where reposYaml is mounted. */}}
{{- define "atoll.reposDir" -}}/etc/atoll/repos{{- end }}

{{/*
The server flags as JSON: .Values.server plus the defaults the chart works
out (atollUrl from the ingress, repoConfig from reposYaml).
*/}}
{{- define "atoll.flags" -}}
{{- $flags := deepCopy .Values.server }}
{{- if and (not $flags.atollUrl) .Values.ingress.enabled .Values.ingress.host }}
{{- $scheme := ternary "https" "http" (gt (len .Values.ingress.tls) 0) }}
{{- $_ := set $flags "atollUrl" (printf "%s://%s" $scheme .Values.ingress.host) }}
{{- end }}
{{- if .Values.reposYaml }}
{{- $_ := set $flags "repoConfig" (printf "%s/repos.yaml" (include "atoll.reposDir" .)) }}
{{- end }}
{{- toJson $flags }}
{{- end }}

{{/* A flag value as the server reads it: numbers without an exponent. */}}
{{- define "atoll.flagValue" -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) }}
{{- int64 . | toString }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* The environment variable of a flag given in camelCase: ghUser → ATOLL_GH_USER. */}}
{{- define "atoll.envName" -}}
ATOLL_{{ snakecase . | upper }}
{{- end }}

{{/*
Checks the values before anything renders, so a mistake fails the install
with a message instead of a pod that crashes.
*/}}
{{- define "atoll.validate" -}}
{{- $s := .Values.server }}
{{- $sec := .Values.secrets }}
{{- $redis := eq (toString $s.lockingDbType) "redis" }}
{{- if not $s.repoAllowlist }}
{{- fail "server.repoAllowlist is required: the repositories Atoll acts on, e.g. github.com/acme/*" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not $redis) }}
{{- fail (printf "replicaCount %d needs Redis: set server.lockingDbType=redis and server.redisHost (the embedded boltdb store is a file on one pod's volume, which replicas cannot share)" (int .Values.replicaCount)) }}
{{- end }}
{{- if and $redis (not $s.redisHost) }}
{{- fail "server.lockingDbType=redis needs server.redisHost" }}
{{- end }}
{{- if .Values.existingSecret }}
{{- range $k, $v := $sec }}
{{- if $v }}
{{- fail (printf "secrets.%s is set, and so is existingSecret: put it in the Secret %s (key %s), or unset existingSecret" $k $.Values.existingSecret (kebabcase $k)) }}
{{- end }}
{{- end }}
{{- else }}
{{- if and (not $sec.ghWebhookSecret) (not $s.allowUnsignedWebhooks) }}
{{- fail "secrets.ghWebhookSecret is required: the secret of the GitHub webhook or App (or set existingSecret to a Secret with a gh-webhook-secret key)" }}
{{- end }}
{{- if not (or $sec.ghToken $s.ghTokenFile $s.ghAppId) }}
{{- fail "a GitHub credential is required: secrets.ghToken, or server.ghAppId and server.ghAppInstallationId with secrets.ghAppKey (or set existingSecret)" }}
{{- end }}
{{- if and $s.ghAppId (not (or $sec.ghAppKey $s.ghAppKeyFile)) }}
{{- fail "server.ghAppId needs the App's private key: secrets.ghAppKey (PEM) or server.ghAppKeyFile" }}
{{- end }}
{{- if and $s.webBasicAuth (not $sec.webPassword) }}
{{- fail "server.webBasicAuth needs secrets.webPassword" }}
{{- end }}
{{- end }}
{{- if and .Values.reposYaml (or $s.repoConfig $s.repoConfigJson) }}
{{- fail "reposYaml and server.repoConfig (or server.repoConfigJson) are both set: keep one" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) }}
{{- fail "ingress.enabled needs ingress.host" }}
{{- end }}
{{- end }}

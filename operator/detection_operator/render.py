"""Pure rendering: a DetectionPipeline's spec -> the child objects the operator applies.

Layer: pure core. Imports no kopf or kubernetes client; returns plain manifests (dicts) ready for
server-side apply. The reconcile (`handlers.reconcile`) applies them through `adapters.kube`.

The scorer Deployment follows the operator <-> scorer contract: SCORER_* settings live in the
ConfigMap and reach the container through `envFrom`; their digest is a pod-template annotation,
so any settings change (e.g. a new model version) rolls the scorers. `spec.replicas` is never
rendered: the autoscaler owns it (see `with_initial_replicas` for the one exception at creation).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from detection_operator.api.pipeline import API_VERSION, KIND, DetectionPipelineSpec

Manifest = dict[str, Any]

MANAGED_BY = "scorefleet-operator"
SCORER_COMPONENT = "scorer"
SCORER_CONTAINER = "scorer"
SCORER_HTTP_PORT = 9102
SCORER_HTTP_PORT_NAME = "http-metrics"
MODEL_CACHE_DIR = "/var/cache/scorefleet/models"
KAFKA_CREDENTIALS_DIR = "/etc/scorefleet/kafka"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: Non-root UID/GID of the scorer image (scorer_image/Dockerfile USER).
SCORER_UID = 10001

LABEL_PIPELINE = "scorefleet.io/pipeline"
ANNOTATION_CONFIG_SHA256 = "scorefleet.io/config-sha256"
ANNOTATION_MODEL_NAME = "scorefleet.io/model-name"
ANNOTATION_MODEL_VERSION = "scorefleet.io/model-version"
ANNOTATION_MODEL_SHA256 = "scorefleet.io/model-sha256"
#: On every child: digest of the manifest last applied, so an unchanged child is not re-applied.
ANNOTATION_APPLIED_SHA256 = "scorefleet.io/applied-sha256"


@dataclass(frozen=True, slots=True)
class PipelineRef:
    """Identity of the DetectionPipeline being rendered (from its metadata)."""

    name: str
    namespace: str
    uid: str


@dataclass(frozen=True, slots=True)
class RenderDefaults:
    """Operator-wide values used where the spec leaves a field unset."""

    scorer_image: str
    scorer_log_format: str = "json"


@dataclass(frozen=True, slots=True)
class Children:
    """The desired children of one pipeline, as server-side-apply manifests."""

    service_account: Manifest
    config_map: Manifest
    service: Manifest
    pod_disruption_budget: Manifest
    deployment: Manifest

    def in_apply_order(self) -> tuple[Manifest, ...]:
        """Children in the order they should be applied: what the Deployment refers to comes first."""
        return (self.service_account, self.config_map, self.service, self.pod_disruption_budget, self.deployment)


def child_name(pipeline_name: str) -> str:
    """Name shared by all children of pipeline `pipeline_name` (one of each kind)."""
    return f"{pipeline_name}-scorer"


def deployment_name(pipeline_name: str) -> str:
    """Name of the scorer Deployment of pipeline `pipeline_name` (what the autoscaler scales)."""
    return child_name(pipeline_name)


def selector_labels(pipeline_name: str) -> dict[str, str]:
    """Labels that select the scorer pods of one pipeline (immutable once the Deployment exists)."""
    return {
        "app.kubernetes.io/name": "scorefleet-scorer",
        "app.kubernetes.io/instance": pipeline_name,
    }


def common_labels(pipeline_name: str) -> dict[str, str]:
    """Labels on every child; `managed-by` + `scorefleet.io/pipeline` route watch events back to the pipeline."""
    return {
        **selector_labels(pipeline_name),
        "app.kubernetes.io/component": SCORER_COMPONENT,
        "app.kubernetes.io/part-of": "scorefleet",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_PIPELINE: pipeline_name,
    }


def owner_reference(ref: PipelineRef) -> dict[str, Any]:
    """The controller ownerReference that makes garbage collection delete children with the pipeline."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": ref.name,
        "uid": ref.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(ref: PipelineRef) -> dict[str, Any]:
    return {
        "name": child_name(ref.name),
        "namespace": ref.namespace,
        "labels": common_labels(ref.name),
        "ownerReferences": [owner_reference(ref)],
    }


def consumer_group(ref: PipelineRef, spec: DetectionPipelineSpec) -> str:
    """The pipeline's consumer group: `spec.kafka.consumerGroup` or `scorefleet.<namespace>.<name>`."""
    return spec.kafka.consumer_group or f"scorefleet.{ref.namespace}.{ref.name}"


def dead_letter_topic(spec: DetectionPipelineSpec) -> str:
    """The dead-letter topic: `spec.kafka.deadLetterTopic` or `<outputTopic>.dlq`."""
    return spec.kafka.dead_letter_topic or f"{spec.kafka.output_topic}.dlq"


def scorer_settings(ref: PipelineRef, spec: DetectionPipelineSpec, *, defaults: RenderDefaults) -> dict[str, str]:
    """The SCORER_* environment of the scorer (operator <-> scorer contract), as ConfigMap data.

    Excludes what comes from the downward API (SCORER_HTTP_HOST, POD_NAME, POD_NAMESPACE).
    """
    settings = {
        "SCORER_BOOTSTRAP_SERVERS": spec.kafka.bootstrap_servers,
        "SCORER_INPUT_TOPIC": spec.kafka.input_topic,
        "SCORER_OUTPUT_TOPIC": spec.kafka.output_topic,
        "SCORER_DEAD_LETTER_TOPIC": dead_letter_topic(spec),
        "SCORER_CONSUMER_GROUP": consumer_group(ref, spec),
        "SCORER_OFFSET_RESET_POLICY": spec.kafka.offset_reset_policy.value,
        "SCORER_MODEL_NAME": spec.model.name,
        "SCORER_MODEL_VERSION": spec.model.version,
        "SCORER_MODEL_URI": spec.model.uri,
        "SCORER_MODEL_SHA256": spec.model.sha256,
        "SCORER_MODEL_CACHE_DIR": MODEL_CACHE_DIR,
        "SCORER_BATCH_MAX_MESSAGES": str(spec.scorer.batch_max_messages),
        "SCORER_BATCH_MAX_WAIT_MS": str(spec.scorer.batch_max_wait_ms),
        "SCORER_HTTP_PORT": str(SCORER_HTTP_PORT),
        "SCORER_LOG_FORMAT": defaults.scorer_log_format,
    }
    if spec.kafka.credentials_secret_ref is not None:
        settings["SCORER_KAFKA_CREDENTIALS_DIR"] = KAFKA_CREDENTIALS_DIR
    return settings


def settings_digest(settings: dict[str, str]) -> str:
    """SHA-256 (hex) of the scorer settings; stable across dict order."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": field_path}}}


def _resources(spec: DetectionPipelineSpec) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    # Quantities as strings, as the apiserver returns them, so re-reading shows no false drift.
    if spec.scorer.resources.requests:
        resources["requests"] = {k: str(v) for k, v in spec.scorer.resources.requests.items()}
    if spec.scorer.resources.limits:
        resources["limits"] = {k: str(v) for k, v in spec.scorer.resources.limits.items()}
    return resources


def render_deployment(
    ref: PipelineRef, spec: DetectionPipelineSpec, *, defaults: RenderDefaults, settings: dict[str, str]
) -> Manifest:
    """The scorer Deployment (no `spec.replicas`: the autoscaler owns it)."""
    name = child_name(ref.name)
    volumes: list[dict[str, Any]] = [
        {"name": "model-cache", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "model-cache", "mountPath": MODEL_CACHE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if spec.kafka.credentials_secret_ref is not None:
        volumes.append({"name": "kafka-credentials", "secret": {"secretName": spec.kafka.credentials_secret_ref.name}})
        mounts.append({"name": "kafka-credentials", "mountPath": KAFKA_CREDENTIALS_DIR, "readOnly": True})
    container: dict[str, Any] = {
        "name": SCORER_CONTAINER,
        "image": spec.scorer.image or defaults.scorer_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": SCORER_HTTP_PORT_NAME, "containerPort": SCORER_HTTP_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": name}}],
        "env": [
            _field_env("SCORER_HTTP_HOST", "status.podIP"),
            _field_env("POD_NAME", "metadata.name"),
            _field_env("POD_NAMESPACE", "metadata.namespace"),
            *({"name": var.name, "value": var.value} for var in spec.scorer.env),
        ],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": SCORER_HTTP_PORT, "scheme": "HTTP"},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": SCORER_HTTP_PORT, "scheme": "HTTP"},
            # Model download + warm-up happen before /healthz is served; don't kill a slow start.
            "initialDelaySeconds": 15,
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 6,
        },
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    resources = _resources(spec)
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(ref),
        "spec": {
            "selector": {"matchLabels": selector_labels(ref.name)},
            "paused": spec.paused,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
            # Never drop capacity during a rollout: a new scorer must be ready before an old one goes.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": common_labels(ref.name),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(SCORER_HTTP_PORT),
                        "prometheus.io/path": "/metrics",
                        ANNOTATION_CONFIG_SHA256: settings_digest(settings),
                        ANNOTATION_MODEL_NAME: spec.model.name,
                        ANNOTATION_MODEL_VERSION: spec.model.version,
                        ANNOTATION_MODEL_SHA256: spec.model.sha256,
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": spec.scorer.termination_grace_period_seconds,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": SCORER_UID,
                        "runAsGroup": SCORER_UID,
                        "fsGroup": SCORER_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def render(ref: PipelineRef, spec: DetectionPipelineSpec, *, defaults: RenderDefaults) -> Children:
    """Return every child object of the pipeline `ref` with `spec`, ready for server-side apply.

    Deterministic: the same inputs give equal manifests, so re-applying is a no-op on the server.
    """
    settings = scorer_settings(ref, spec, defaults=defaults)
    return Children(
        service_account={
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _metadata(ref),
            "automountServiceAccountToken": False,
        },
        config_map={"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(ref), "data": settings},
        service={
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(ref),
            # Headless: metrics are scraped per pod (nothing load-balances them), and no cluster IP is
            # spent per pipeline (a /24 service range would cap a cluster at ~250 pipelines).
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "None",
                "selector": selector_labels(ref.name),
                "ports": [
                    {
                        "name": SCORER_HTTP_PORT_NAME,
                        "port": SCORER_HTTP_PORT,
                        "targetPort": SCORER_HTTP_PORT_NAME,
                        "protocol": "TCP",
                    }
                ],
            },
        },
        pod_disruption_budget={
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _metadata(ref),
            # maxUnavailable (not minAvailable) so a 1-replica or scaled-to-zero pipeline never blocks a drain.
            "spec": {"selector": {"matchLabels": selector_labels(ref.name)}, "maxUnavailable": 1},
        },
        deployment=render_deployment(ref, spec, defaults=defaults, settings=settings),
    )



def keep_allocated_cluster_ip(manifest: Manifest, live: Manifest | None) -> Manifest:
    """`manifest` without `spec.clusterIP` when `live` is a Service that already has a cluster IP.

    clusterIP is immutable: a Service created by an older operator (not headless) keeps its IP
    rather than being deleted and recreated. Other manifests are returned unchanged.
    """
    if manifest.get("kind") != "Service" or live is None:
        return manifest
    allocated = (live.get("spec") or {}).get("clusterIP")
    if allocated in (None, "", "None"):
        return manifest
    spec = {k: v for k, v in manifest["spec"].items() if k != "clusterIP"}
    return {**manifest, "spec": spec}


def applied_digest(manifest: Manifest) -> str:
    """SHA-256 (hex) of a manifest, ignoring its own applied-digest annotation."""
    meta = dict(manifest.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != ANNOTATION_APPLIED_SHA256}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return hashlib.sha256(json.dumps({**manifest, "metadata": meta}, sort_keys=True).encode()).hexdigest()


def with_applied_digest(manifest: Manifest) -> Manifest:
    """A copy of `manifest` annotated with its `applied_digest` (compared on the next reconcile)."""
    meta = dict(manifest["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION_APPLIED_SHA256: applied_digest(manifest)}
    return {**manifest, "metadata": meta}


def with_initial_replicas(deployment: Manifest, replicas: int) -> Manifest:
    """Return a copy of the rendered `deployment` with `spec.replicas` set; used only when creating it.

    A pipeline with minReplicas 0 is thus created with no pods (the apiserver would default to 1).
    """
    return {**deployment, "spec": {**deployment["spec"], "replicas": replicas}}

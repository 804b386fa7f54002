"""render(): a pipeline spec becomes children that honour the operator <-> scorer contract."""

from __future__ import annotations

from typing import Any

import pytest
from detection_operator import render
from detection_operator.api.pipeline import DetectionPipelineSpec

REF = render.PipelineRef(name="mail", namespace="fraud", uid="uid-1")
DEFAULTS = render.RenderDefaults(scorer_image="registry.local/scorefleet-scorer:0.1.0")
SHA = "b" * 64


def spec(**kafka: Any) -> DetectionPipelineSpec:
    return DetectionPipelineSpec.model_validate(
        {
            "kafka": {"bootstrapServers": "kafka:9092", "inputTopic": "in", "outputTopic": "out", **kafka},
            "model": {"name": "m", "version": "1", "uri": "http://store/m.onnx", "sha256": SHA},
            "scaling": {"minReplicas": 0, "maxReplicas": 4},
        }
    )


def container(children: render.Children) -> dict[str, Any]:
    return children.deployment["spec"]["template"]["spec"]["containers"][0]


def test_children_are_owned_labelled_and_named() -> None:
    children = render.render(REF, spec(), defaults=DEFAULTS)
    kinds = [c["kind"] for c in children.in_apply_order()]
    assert kinds == ["ServiceAccount", "ConfigMap", "Service", "PodDisruptionBudget", "Deployment"]
    for child in children.in_apply_order():
        meta = child["metadata"]
        assert meta["name"] == "mail-scorer" and meta["namespace"] == "fraud"
        assert meta["ownerReferences"] == [render.owner_reference(REF)]
        assert meta["ownerReferences"][0]["controller"] is True
        assert meta["labels"]["app.kubernetes.io/managed-by"] == render.MANAGED_BY
        assert meta["labels"][render.LABEL_PIPELINE] == "mail"


def test_deployment_never_sets_replicas_but_creation_can() -> None:
    deployment = render.render(REF, spec(), defaults=DEFAULTS).deployment
    assert "replicas" not in deployment["spec"]
    created = render.with_initial_replicas(deployment, 0)
    assert created["spec"]["replicas"] == 0
    assert "replicas" not in deployment["spec"], "with_initial_replicas must not mutate its input"


@pytest.mark.parametrize(
    ("kafka", "key", "expected"),
    [
        pytest.param({}, "SCORER_CONSUMER_GROUP", "scorefleet.fraud.mail", id="default-consumer-group"),
        pytest.param({"consumerGroup": "g"}, "SCORER_CONSUMER_GROUP", "g", id="explicit-consumer-group"),
        pytest.param({}, "SCORER_DEAD_LETTER_TOPIC", "out.dlq", id="default-dlq"),
        pytest.param({"deadLetterTopic": "dead"}, "SCORER_DEAD_LETTER_TOPIC", "dead", id="explicit-dlq"),
        pytest.param({}, "SCORER_OFFSET_RESET_POLICY", "latest", id="default-offset-reset"),
        pytest.param({}, "SCORER_MODEL_SHA256", SHA, id="model-digest"),
        pytest.param({}, "SCORER_HTTP_PORT", "9102", id="http-port"),
        pytest.param({}, "SCORER_MODEL_CACHE_DIR", "/var/cache/scorefleet/models", id="cache-dir"),
        pytest.param(
            {"credentialsSecretRef": {"name": "kafka-client"}},
            "SCORER_KAFKA_CREDENTIALS_DIR",
            "/etc/scorefleet/kafka",
            id="credentials-dir",
        ),
    ],
)
def test_scorer_settings_follow_the_contract(kafka: dict[str, Any], key: str, expected: str) -> None:
    children = render.render(REF, spec(**kafka), defaults=DEFAULTS)
    assert children.config_map["data"][key] == expected
    assert container(children)["envFrom"] == [{"configMapRef": {"name": "mail-scorer"}}]


def test_pod_template_contract() -> None:
    children = render.render(REF, spec(credentialsSecretRef={"name": "kafka-client"}), defaults=DEFAULTS)
    deployment = children.deployment["spec"]
    pod = deployment["template"]["spec"]
    c = container(children)
    env = {e["name"]: e for e in c["env"]}
    assert env["SCORER_HTTP_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert {"POD_NAME", "POD_NAMESPACE"} <= env.keys()
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9102, "scheme": "HTTP"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["image"] == DEFAULTS.scorer_image
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/cache/scorefleet/models"]]
    assert volumes[mounts["/etc/scorefleet/kafka"]]["secret"]["secretName"] == "kafka-client"
    annotations = deployment["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "9102"
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["terminationGracePeriodSeconds"] >= 30


def test_model_change_changes_the_pod_template_and_nothing_else_does() -> None:
    base = render.render(REF, spec(), defaults=DEFAULTS)
    again = render.render(REF, spec(), defaults=DEFAULTS)
    assert base == again, "rendering must be deterministic"
    changed_spec = spec().model_copy(update={"model": spec().model.model_copy(update={"version": "2"})})
    changed = render.render(REF, changed_spec, defaults=DEFAULTS)
    template = lambda c: c.deployment["spec"]["template"]  # noqa: E731
    assert template(changed) != template(base)
    assert changed.config_map["data"]["SCORER_MODEL_VERSION"] == "2"


def test_explicit_image_and_extra_env_win() -> None:
    raw = spec().model_dump(mode="json")
    raw["scorer"]["image"] = "other/scorefleet-scorer:dev"
    raw["scorer"]["env"] = [{"name": "SCORER_PER_RECORD_DELAY_MS", "value": "5"}]
    children = render.render(REF, DetectionPipelineSpec.model_validate(raw), defaults=DEFAULTS)
    assert container(children)["image"] == "other/scorefleet-scorer:dev"
    assert {"name": "SCORER_PER_RECORD_DELAY_MS", "value": "5"} in container(children)["env"]


def test_paused_pipeline_pauses_the_deployment() -> None:
    raw = spec().model_dump(mode="json") | {"paused": True}
    children = render.render(REF, DetectionPipelineSpec.model_validate(raw), defaults=DEFAULTS)
    assert children.deployment["spec"]["paused"] is True


@pytest.mark.parametrize(
    ("live_cluster_ip", "expected"),
    [
        pytest.param(None, "None", id="new-service-is-headless"),
        pytest.param("None", "None", id="headless-stays-headless"),
        pytest.param("10.0.0.7", None, id="allocated-ip-is-kept"),
    ],
)
def test_service_cluster_ip_is_never_changed(live_cluster_ip: str | None, expected: str | None) -> None:
    service = render.render(REF, spec(), defaults=DEFAULTS).service
    live = None if live_cluster_ip is None else {"spec": {"clusterIP": live_cluster_ip}}
    assert render.keep_allocated_cluster_ip(service, live)["spec"].get("clusterIP") == expected

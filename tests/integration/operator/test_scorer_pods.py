"""With real scorer pods (node agent + scorer + Kafka + model store): a pipeline becomes Ready and
serves its model, a model version change rolls out (Progressing, then Ready with the new version
in status.model), and a wrong sha256 makes the pipeline Degraded with the pod's own words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detection_operator.api.pipeline import GROUP, PLURAL, VERSION
from kubernetes import client as k8s

from .conftest import (
    OperatorFactory,
    condition,
    create_pipeline,
    get_pipeline,
    pipeline_events,
    pipeline_manifest,
    reconciled,
    wait_for,
)


def scorer_pipeline(name: str, *, topic_factory: Callable[..., str], stack: Any, model: dict[str, Any],
                    sha256: str | None = None) -> dict[str, Any]:
    return pipeline_manifest(
        name,
        input_topic=topic_factory(partitions=1, prefix="opit-in"),
        output_topic=topic_factory(partitions=1, prefix="opit-out"),
        bootstrap_servers=stack.kafka_bootstrap_servers,
        min_replicas=1,
        max_replicas=1,
        model_uri=model["uri"],
        sha256=sha256 or model["sha256"],
        model_version="1",
    )


def test_ready_then_model_rollout(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory, stack: Any,
    topic_factory: Callable[..., str], model_artifact: dict[str, Any],
) -> None:
    custom, core = k8s.CustomObjectsApi(kube_api), k8s.CoreV1Api(kube_api)
    start_operator(namespace, SCOREFLEET_OPERATOR_SCORER__IMAGE="registry.local/scorefleet-scorer:it")
    create_pipeline(custom, namespace, scorer_pipeline("p1", topic_factory=topic_factory, stack=stack,
                                                       model=model_artifact))

    def phase(expected: str) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            p = get_pipeline(custom, namespace, "p1")
            return p if reconciled(p) and p["status"].get("phase") == expected else None
        return probe

    ready = wait_for(phase("Ready"), timeout_seconds=180, what="p1 Ready with a ready scorer")
    assert ready["status"]["readyReplicas"] == 1
    assert ready["status"]["model"] == {"name": "phishing-linear", "version": "1", "sha256": model_artifact["sha256"]}
    assert condition(ready, "Ready")["reason"] == "Available"  # type: ignore[index]

    new_version = {"spec": {"model": {"version": "2"}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "p1", new_version)

    def serving_two() -> dict[str, Any] | None:
        p = get_pipeline(custom, namespace, "p1")
        done = (reconciled(p) and p["status"].get("phase") == "Ready"
                and (p["status"].get("model") or {}).get("version") == "2")
        return p if done else None

    rolled = wait_for(serving_two, timeout_seconds=180, what="model 2 serving after a rolling update")
    assert condition(rolled, "Progressing")["reason"] == "RolloutComplete"  # type: ignore[index]
    reasons = [e.reason for e in pipeline_events(core, namespace, "p1")]
    assert "RollingOut" in reasons, f"Progressing=True was reported during the rollout: {reasons}"
    assert "ModelServing" in reasons, "the change of serving model is an Event"


def test_model_digest_mismatch_is_degraded(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory, stack: Any,
    topic_factory: Callable[..., str], model_artifact: dict[str, Any],
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    start_operator(namespace, SCOREFLEET_OPERATOR_SCORER__IMAGE="registry.local/scorefleet-scorer:it")
    create_pipeline(custom, namespace, scorer_pipeline("p1", topic_factory=topic_factory, stack=stack,
                                                       model=model_artifact, sha256="f" * 64))

    def degraded() -> dict[str, Any] | None:
        c = condition(get_pipeline(custom, namespace, "p1"), "Degraded")
        return c if c and c["reason"] == "ModelDigestMismatch" else None

    found = wait_for(degraded, timeout_seconds=120, what="Degraded=ModelDigestMismatch")
    assert found["status"] == "True"
    assert "sha256 mismatch" in found["message"] and "f" * 64 in found["message"]
    assert get_pipeline(custom, namespace, "p1")["status"]["phase"] == "Degraded"

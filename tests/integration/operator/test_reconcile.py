"""The operator, as a real subprocess under its minimal RBAC, against the real apiserver: children,
status, Events, drift repair, spec changes, garbage collection, metrics and liveness.

Pipelines here scale to zero (minReplicas 0), so no scorer pod is needed unless a test says so.
"""

from __future__ import annotations

from typing import Any, cast

from detection_operator.adapters.kube import AUTOSCALER_FIELD_MANAGER, replicas_owned_by
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

CHILD = "p1-scorer"


def children(kube_api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    core, apps, policy = k8s.CoreV1Api(kube_api), k8s.AppsV1Api(kube_api), k8s.PolicyV1Api(kube_api)
    found: dict[str, Any] = {}
    for kind, read in (
        ("Deployment", apps.read_namespaced_deployment),
        ("ConfigMap", core.read_namespaced_config_map),
        ("Service", core.read_namespaced_service),
        ("ServiceAccount", core.read_namespaced_service_account),
        ("PodDisruptionBudget", policy.read_namespaced_pod_disruption_budget),
    ):
        try:
            found[kind] = kube_api.sanitize_for_serialization(read(name, namespace))
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
    return found


def test_pipeline_gets_owned_children_status_and_events(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    custom, core = k8s.CustomObjectsApi(kube_api), k8s.CoreV1Api(kube_api)
    operator = start_operator(namespace)
    created = create_pipeline(custom, namespace, pipeline_manifest("p1"))
    uid = created["metadata"]["uid"]

    pipeline = wait_for(
        lambda: (p := get_pipeline(custom, namespace, "p1")) and reconciled(p)
        and (p["status"].get("phase") == "ScaledToZero") and p,
        timeout_seconds=60, what="p1 reconciled and ScaledToZero",
    )
    found = wait_for(lambda: (c := children(kube_api, namespace, CHILD)) and len(c) == 5 and c,
                     timeout_seconds=10, what="all five children")
    for kind, child in found.items():
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("DetectionPipeline", uid, True), kind
    deployment = found["Deployment"]
    assert deployment["spec"]["replicas"] == 0, "minReplicas 0 must start no pods"
    assert replicas_owned_by(deployment, AUTOSCALER_FIELD_MANAGER), "replicas belong to the autoscaler"
    assert not replicas_owned_by(deployment, "scorefleet-operator")
    assert found["ConfigMap"]["data"]["SCORER_CONSUMER_GROUP"] == f"scorefleet.{namespace}.p1"

    ready = condition(pipeline, "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("True", "ScaledToZero")
    assert condition(pipeline, "Degraded")["status"] == "False"  # type: ignore[index]
    assert pipeline["status"]["model"]["version"] == "1"
    wait_for(lambda: {e.reason for e in pipeline_events(core, namespace, "p1")} >= {"Created", "ScaledToZero"},
             timeout_seconds=10, what="Created and Ready (ScaledToZero) events")
    # The counter moves when the reconcile returns, just after its last Event.
    wait_for(lambda: operator.metric("scorefleet_operator_reconciles_total", 'result="success"') >= 1,
             timeout_seconds=10, what="a successful reconcile counted")
    assert operator.metric("scorefleet_operator_pipelines_managed") == 1
    assert operator.metric("scorefleet_operator_child_changes_total", 'action="created",kind="Deployment"') == 1
    condition_labels = f'namespace="{namespace}",pipeline="p1",type='
    assert operator.metric("scorefleet_operator_pipeline_condition", condition_labels + '"Ready"') == 1
    assert operator.metric("scorefleet_operator_pipeline_condition", condition_labels + '"Degraded"') == 0


def test_drift_is_repaired_and_reported(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    custom, core, apps = k8s.CustomObjectsApi(kube_api), k8s.CoreV1Api(kube_api), k8s.AppsV1Api(kube_api)
    start_operator(namespace)
    create_pipeline(custom, namespace, pipeline_manifest("p1"))
    wait_for(
        lambda: len(children(kube_api, namespace, CHILD)) == 5 and reconciled(get_pipeline(custom, namespace, "p1")),
        timeout_seconds=30, what="p1 reconciled",
    )

    core.delete_namespaced_config_map(CHILD, namespace)
    core.patch_namespaced_service(CHILD, namespace, {"spec": {"ports": [{"port": 9102, "targetPort": 8080}]}})
    apps.patch_namespaced_deployment(CHILD, namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "scorer", "image": "evil/miner:latest"}]}}}})

    def repaired() -> bool:
        found = children(kube_api, namespace, CHILD)
        return (
            "ConfigMap" in found
            and found["ConfigMap"]["data"]["SCORER_INPUT_TOPIC"] == "mail.inbound"
            and [p["targetPort"] for p in found["Service"]["spec"]["ports"]] == ["http-metrics"]
            and found["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.local/scorefleet-scorer:it"
        )

    wait_for(repaired, timeout_seconds=20, what="the ConfigMap, Service and Deployment restored")
    def repairs_reported() -> bool:
        text = " ".join(e.message or "" for e in pipeline_events(core, namespace, "p1") if e.reason == "DriftRepaired")
        return all(kind in text for kind in ("ConfigMap", "Service", "Deployment"))

    wait_for(repairs_reported, timeout_seconds=10, what="DriftRepaired events naming the three children")
    restored = kube_api.sanitize_for_serialization(apps.read_namespaced_deployment(CHILD, namespace))
    assert restored["spec"]["replicas"] == 0


def test_spec_change_rolls_config_and_replicas_are_left_alone(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    custom, apps = k8s.CustomObjectsApi(kube_api), k8s.AppsV1Api(kube_api)
    start_operator(namespace)
    create_pipeline(custom, namespace, pipeline_manifest("p1", min_replicas=0, max_replicas=3))
    wait_for(lambda: reconciled(get_pipeline(custom, namespace, "p1")), timeout_seconds=30, what="p1 reconciled")
    # The autoscaler's field manager sets replicas; the reconcile must never take them back. A
    # paused Deployment keeps its template, and an image that maps to no command starts nothing.
    def deployment() -> Any:
        return kube_api.sanitize_for_serialization(apps.read_namespaced_deployment(CHILD, namespace))

    template_hash = deployment()["spec"]["template"]["metadata"]["annotations"]["scorefleet.io/config-sha256"]

    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "p1", {"spec": {
        "model": {"version": "2"}, "scorer": {"batchMaxMessages": 100}}})

    def rolled() -> Any:
        p = get_pipeline(custom, namespace, "p1")
        d = deployment()
        return (reconciled(p) and p["status"].get("model", {}).get("version") == "2"
                and d["spec"]["template"]["metadata"]["annotations"]["scorefleet.io/config-sha256"] != template_hash
                and d)

    rolled_out = wait_for(rolled, timeout_seconds=60, what="model 2 rolled out and reported")
    assert rolled_out["spec"]["replicas"] == 0
    data = k8s.CoreV1Api(kube_api).read_namespaced_config_map(CHILD, namespace).data or {}
    assert data["SCORER_MODEL_VERSION"] == "2" and data["SCORER_BATCH_MAX_MESSAGES"] == "100"


def test_deleting_the_pipeline_deletes_children_without_waiting_for_the_operator(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    operator = start_operator(namespace)
    create_pipeline(custom, namespace, pipeline_manifest("p1"))
    wait_for(lambda: len(children(kube_api, namespace, CHILD)) == 5, timeout_seconds=30, what="children")
    pipeline = get_pipeline(custom, namespace, "p1")
    assert not pipeline["metadata"].get("finalizers"), "no finalizer may hold the pipeline hostage"
    operator.stop()  # even with the operator gone, deletion completes
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "p1")
    wait_for(lambda: not cast(Any, custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))["items"],
             timeout_seconds=10, what="the pipeline gone")
    wait_for(lambda: not children(kube_api, namespace, CHILD), timeout_seconds=60,
             what="garbage collection of every child")


def test_pods_that_cannot_start_make_the_pipeline_degraded(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    """Schema-valid but cannot run: an image the node cannot pull. Needs the node agent."""
    custom = k8s.CustomObjectsApi(kube_api)
    start_operator(namespace)
    create_pipeline(custom, namespace, pipeline_manifest(
        "p1", min_replicas=1, scorer={"image": "registry.invalid/no-such-image:1"}))

    def degraded() -> dict[str, Any] | None:
        c = condition(get_pipeline(custom, namespace, "p1"), "Degraded")
        return c if c and c["status"] == "True" else None

    found = wait_for(degraded, timeout_seconds=60, what="Degraded=True")
    assert found["reason"] == "ImagePullBackOff", found
    assert "p1-scorer-" in found["message"], "the message names the pod"
    pipeline = get_pipeline(custom, namespace, "p1")
    assert pipeline["status"]["phase"] == "Degraded"
    assert condition(pipeline, "Ready")["status"] == "False"  # type: ignore[index]
    core = k8s.CoreV1Api(kube_api)
    wait_for(lambda: any(e.reason == "ImagePullBackOff" and e.type == "Warning"
                         for e in pipeline_events(core, namespace, "p1")),
             timeout_seconds=10, what="a Warning event for Degraded")


def test_service_with_a_cluster_ip_from_an_older_operator_is_adopted_not_recreated(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    core, custom = k8s.CoreV1Api(kube_api), k8s.CustomObjectsApi(kube_api)
    old = core.create_namespaced_service(namespace, k8s.V1Service(
        metadata=k8s.V1ObjectMeta(name=CHILD, labels={"app.kubernetes.io/managed-by": "scorefleet-operator",
                                                      "scorefleet.io/pipeline": "p1"}),
        spec=k8s.V1ServiceSpec(ports=[k8s.V1ServicePort(name="http-metrics", port=9102)]),
    ))
    assert old.spec is not None and old.spec.cluster_ip not in (None, "None")
    start_operator(namespace)
    create_pipeline(custom, namespace, pipeline_manifest("p1"))
    pipeline = wait_for(lambda: (p := get_pipeline(custom, namespace, "p1")) and reconciled(p) and p,
                        timeout_seconds=60, what="p1 reconciled")
    assert condition(pipeline, "Degraded")["status"] == "False"  # type: ignore[index]
    service = core.read_namespaced_service(CHILD, namespace)
    assert service.spec is not None and service.spec.cluster_ip == old.spec.cluster_ip
    assert service.metadata is not None and old.metadata is not None and service.metadata.uid == old.metadata.uid
    assert [o.kind for o in service.metadata.owner_references or []] == ["DetectionPipeline"]

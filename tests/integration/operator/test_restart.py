"""Missed events: pipelines created while the operator is down are all reconciled on start, once each."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from detection_operator.api.pipeline import GROUP, PLURAL, VERSION
from kubernetes import client as k8s

from .conftest import OperatorFactory, create_pipeline, pipeline_manifest, wait_for

PIPELINES = 50
RESYNC_SECONDS = 60


def test_fifty_pipelines_created_while_down_are_reconciled_on_start(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    custom, apps = k8s.CustomObjectsApi(kube_api), k8s.AppsV1Api(kube_api)
    # One pipeline reconciled, then the operator goes down.
    first = start_operator(namespace)
    create_pipeline(custom, namespace, pipeline_manifest("before"))
    wait_for(lambda: apps.list_namespaced_deployment(namespace).items, timeout_seconds=30, what="first Deployment")
    first.stop()

    names = [f"p{i:02d}" for i in range(PIPELINES)]
    burst_started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda n: create_pipeline(custom, namespace, pipeline_manifest(n)), names))
    burst_seconds = time.monotonic() - burst_started

    start_operator(namespace, SCOREFLEET_OPERATOR_WATCH__RESYNC_INTERVAL_SECONDS=str(RESYNC_SECONDS))
    operator_started = time.monotonic()

    def all_reconciled() -> bool:
        items = cast(dict[str, Any], custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))["items"]
        done = [p for p in items if (p.get("status") or {}).get("observedGeneration") == p["metadata"]["generation"]]
        return len(done) == PIPELINES + 1

    wait_for(all_reconciled, timeout_seconds=RESYNC_SECONDS, what="all 51 pipelines reconciled")
    print(f"created {PIPELINES} in {burst_seconds:.2f}s; all reconciled {time.monotonic() - operator_started:.2f}s "
          "after the operator was live")
    deployments = apps.list_namespaced_deployment(namespace).items
    per_pipeline = Counter(
        (d.metadata.labels or {}).get("scorefleet.io/pipeline") for d in deployments if d.metadata is not None
    )
    assert set(per_pipeline) == {*names, "before"}
    assert set(per_pipeline.values()) == {1}, "no duplicate children"
    for list_children in (
        k8s.CoreV1Api(kube_api).list_namespaced_config_map,
        k8s.CoreV1Api(kube_api).list_namespaced_service,
        k8s.PolicyV1Api(kube_api).list_namespaced_pod_disruption_budget,
    ):
        items = list_children(namespace, label_selector="app.kubernetes.io/managed-by=scorefleet-operator").items
        assert len(items) == PIPELINES + 1
    assert all(d.spec is not None and d.spec.replicas == 0 for d in deployments)

"""HA (kopf peering: of two replicas only the higher priority acts, the other takes over when it
goes) and watch streams that end (a short resync: streams are re-opened and keep working)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from .conftest import (
    APPLY,
    REPO,
    TEST_MANAGER,
    OperatorFactory,
    create_pipeline,
    get_pipeline,
    pipeline_manifest,
    reconciled,
    wait_for,
)

PEERING_FILE = REPO / "deploy" / "kopf-peering.yaml"


@pytest.fixture
def peering(kube_api: k8s.ApiClient, namespace: str) -> str:
    """kopf's peering CRDs (deploy/kopf-peering.yaml) and a KopfPeering for the test namespace."""
    ext = k8s.ApiextensionsV1Api(kube_api)
    for document in yaml.safe_load_all(Path(PEERING_FILE).read_text()):
        if document and document["kind"] == "CustomResourceDefinition":
            ext.patch_custom_resource_definition(document["metadata"]["name"], document, field_manager=TEST_MANAGER,
                                                 force=True, _content_type=APPLY)

    def established() -> bool:
        crd = ext.read_custom_resource_definition("kopfpeerings.kopf.dev")
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, timeout_seconds=30, what="the KopfPeering CRD")
    k8s.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "scorefleet"}},
    )
    return "scorefleet"


def test_only_the_highest_priority_replica_acts_and_the_other_takes_over(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory, peering: str
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    peered = {"SCOREFLEET_OPERATOR_PEERING__STANDALONE": "false", "SCOREFLEET_OPERATOR_PEERING__MANDATORY": "true",
              "SCOREFLEET_OPERATOR_PEERING__NAME": peering}
    leader = start_operator(namespace, SCOREFLEET_OPERATOR_PEERING__PRIORITY="200", **peered)
    standby = start_operator(namespace, SCOREFLEET_OPERATOR_PEERING__PRIORITY="100", **peered)
    create_pipeline(custom, namespace, pipeline_manifest("p1"))
    wait_for(lambda: reconciled(get_pipeline(custom, namespace, "p1")), timeout_seconds=60, what="p1 reconciled")
    wait_for(lambda: leader.metric("scorefleet_operator_reconciles_total", 'result="success"') >= 1,
             timeout_seconds=10, what="the leader's reconcile counted")
    assert standby.metric("scorefleet_operator_reconciles_total", 'result="success"') == 0, "the standby acted"
    assert standby.alive(), "a paused replica stays live"

    leader.stop()
    create_pipeline(custom, namespace, pipeline_manifest("p2"))
    wait_for(lambda: reconciled(get_pipeline(custom, namespace, "p2")), timeout_seconds=90,
             what="p2 reconciled by the former standby")
    assert standby.metric("scorefleet_operator_reconciles_total", 'result="success"') >= 1


def test_watch_streams_that_end_are_reopened_and_resync_runs(
    kube_api: k8s.ApiClient, namespace: str, start_operator: OperatorFactory
) -> None:
    """With 2 s server timeouts the apiserver ends every watch stream every 2 s; kopf re-opens them,
    the periodic resync keeps running, and the operator keeps reacting to new objects."""
    custom = k8s.CustomObjectsApi(kube_api)
    operator = start_operator(namespace, SCOREFLEET_OPERATOR_WATCH__SERVER_TIMEOUT_SECONDS="2",
                              SCOREFLEET_OPERATOR_WATCH__RESYNC_INTERVAL_SECONDS="2")
    create_pipeline(custom, namespace, pipeline_manifest("p1"))
    wait_for(lambda: reconciled(get_pipeline(custom, namespace, "p1")), timeout_seconds=60, what="p1 reconciled")

    def resyncs() -> float:
        return operator.metric("scorefleet_operator_resyncs_total", 'outcome="done"')

    seen = resyncs()
    wait_for(lambda: resyncs() >= seen + 3, timeout_seconds=30, what="three more resyncs (6 s of 2 s watches)")
    assert operator.alive()
    create_pipeline(custom, namespace, pipeline_manifest("p2"))
    wait_for(lambda: reconciled(get_pipeline(custom, namespace, "p2")), timeout_seconds=30,
             what="p2 reconciled after the streams were re-opened")

"""Autoscaling of real scorers on the dev stack: operator process -> Deployment -> node-agent pods
-> scorers consuming a 6-partition topic slowly; a burst raises the replicas within two polls, the
lag drains to 0, and after the stabilization window the fleet returns to minReplicas.

Waits are deadline loops on observed state (Deployment, pipeline status, Kafka offsets).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka.admin import AdminClient
from detection_operator.api.pipeline import GROUP, PLURAL, VERSION
from detection_operator.render import deployment_name
from kubernetes import client as k8s
from scorefleet_devstack import demo

from tests.waiting import wait_for

POLL_SECONDS = 5
WINDOW_SECONDS = 30
LAG_THRESHOLD = 1_000
BURST = 6_000
PER_RECORD_DELAY_MS = 10  # one slow scorer handles ~100 messages/s: the burst needs scale-out


def test_burst_scales_out_within_two_polls_drains_and_returns_to_min(
    stack: Any, namespace: str, kube_api: k8s.ApiClient, topic_factory: Callable[..., str],
    operator_process: subprocess.Popen[bytes],
) -> None:
    apps: Any = cast(Any, k8s.AppsV1Api(kube_api))
    custom: Any = cast(Any, k8s.CustomObjectsApi(kube_api))
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    input_topic = topic_factory(partitions=6, prefix="as-in")
    output_topic = topic_factory(partitions=1, prefix="as-out")
    demo.ensure_topics(admin, {f"{output_topic}.dlq": 1})
    model = demo.ensure_model(stack, say=lambda line: None)
    name = "burst"
    manifest = demo.pipeline_manifest(
        namespace=namespace, name=name, input_topic=input_topic, output_topic=output_topic,
        bootstrap_servers=stack.kafka_bootstrap_servers, model=model,
        scaling={"minReplicas": 1, "maxReplicas": 6, "lagThreshold": LAG_THRESHOLD,
                 "pollingIntervalSeconds": POLL_SECONDS, "scaleDownStabilizationSeconds": WINDOW_SECONDS,
                 "source": "prometheus"})
    manifest["spec"]["scorer"]["env"] = [{"name": "SCORER_PER_RECORD_DELAY_MS", "value": str(PER_RECORD_DELAY_MS)}]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)

    def deployment_replicas() -> tuple[int, int]:
        d = apps.read_namespaced_deployment(deployment_name(name), namespace)
        return int(d.spec.replicas or 0), int(d.status.ready_replicas or 0)

    def status() -> dict[str, Any]:
        return dict(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get("status") or {})

    wait_for(lambda: _safe(lambda: deployment_replicas()[1] >= 1), timeout_seconds=180,
             what="one ready scorer")
    wait_for(lambda: "desiredReplicas" in status(), timeout_seconds=3 * POLL_SECONDS, what="a first autoscale poll")

    producer = demo.RateProducer(stack.kafka_bootstrap_servers, input_topic, seed=int(uuid.uuid4().int % 10**8))
    producer.burst(BURST)
    burst_done = time.monotonic()
    wait_for(lambda: deployment_replicas()[0] >= 3, timeout_seconds=2 * POLL_SECONDS + 3,
             what="replicas >= 3 within two polls of the burst", poll_seconds=0.2)
    scaled_after = time.monotonic() - burst_done
    peak = deployment_replicas()[0]
    print(f"scaled to {peak} replicas {scaled_after:.1f} s after the burst")

    group = f"scorefleet.{namespace}.{name}"
    wait_for(lambda: demo.group_lag(admin, group=group, topic=input_topic) == 0, timeout_seconds=240,
             what="lag to drain to 0", poll_seconds=1)
    drained_after = time.monotonic() - burst_done
    wait_for(lambda: deployment_replicas()[0] == 1, timeout_seconds=WINDOW_SECONDS + 4 * POLL_SECONDS + 30,
             what="a scale-down back to minReplicas after the window", poll_seconds=1)
    down_after = time.monotonic() - burst_done
    print(f"lag 0 after {drained_after:.1f} s; back to 1 replica after {down_after:.1f} s")
    # The window starts at the last high recommendation, which can come before the lag reads 0 here
    # (lag under lagThreshold x replicas already recommends fewer), but never before the scale-up.
    assert down_after - scaled_after >= WINDOW_SECONDS - POLL_SECONDS, "scaled down before the window passed"

    # The loop scales the Deployment and then applies the status: a read in between sees the last poll's.
    wait_for(lambda: status().get("desiredReplicas") == 1, timeout_seconds=POLL_SECONDS,
             what="the status to follow the scale-down", poll_seconds=0.2)
    final = status()
    assert final["lag"]["totalMessages"] == 0
    assert next(c for c in final["conditions"] if c["type"] == "LagSourceHealthy")["status"] == "True"
    reasons = [reason for _, reason, _ in _events(kube_api, namespace, name)]
    assert "ScaledUp" in reasons and "ScaledDown" in reasons, reasons
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except k8s.ApiException:
        return False  # the Deployment does not exist yet


def _events(kube_api: k8s.ApiClient, namespace: str, name: str) -> list[tuple[str, str, str]]:
    core: Any = cast(Any, k8s.CoreV1Api(kube_api))
    items = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return [(e.type, e.reason, e.message) for e in items]

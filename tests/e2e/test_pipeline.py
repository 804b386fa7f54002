"""The whole system on the dev stack, as `make demo` runs it but smaller: the Helm-installed
operator pod reconciles a pipeline, scorer pods drain a burst, the fleet scales up and back down,
every produced message id ends in the output or dead-letter topic, and a model version change
rolls out with the output switching to the new version and nothing lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from kubernetes import client as k8s
from scorefleet_devstack import demo
from scorefleet_devstack.config import StackSettings
from scorefleet_devstack.stack import Endpoints

from tests.waiting import wait_for


@pytest.fixture(scope="module")
def operator_installed(stack: Endpoints) -> Iterator[Endpoints]:
    """The chart's operator (all namespaces) for this module only: later tests run operators of
    their own, and two operators must not reconcile the same pipelines."""
    settings = StackSettings()
    demo.install_chart(settings, stack)
    yield stack
    demo.uninstall_chart(settings, stack)


def _condition(status: dict[str, Any], kind: str) -> str | None:
    return next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == kind), None)


def test_burst_scales_up_drains_scales_down_and_version_change_loses_nothing(
        operator_installed: Endpoints, namespace: str, topic_factory: Callable[..., str]) -> None:
    stack = operator_installed
    settings = StackSettings()
    api = demo.kube_client(stack)
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    input_topic = topic_factory(partitions=6, prefix="in")
    output_topic = topic_factory(partitions=2, prefix="out")
    demo.ensure_topics(admin, {f"{output_topic}.dlq": 1})
    model = demo.ensure_model(stack, say=lambda line: None)
    name = "e2e"
    scaling = {"minReplicas": 1, "maxReplicas": 3, "lagThreshold": 500, "pollingIntervalSeconds": 5,
               "scaleDownStabilizationSeconds": 20}
    manifest = demo.pipeline_manifest(namespace=namespace, name=name, input_topic=input_topic,
                                      output_topic=output_topic, bootstrap_servers=stack.kafka_bootstrap_servers,
                                      model=model, scaling=scaling,
                                      scorer_env={"SCORER_PER_RECORD_DELAY_MS": "2"})
    demo.apply_manifest(settings, stack, manifest)
    wait_for(lambda: _condition(demo.pipeline_status(api, namespace=namespace, name=name), "Ready") == "True",
              timeout_seconds=180, what="the pipeline to be Ready")

    producer = demo.RateProducer(stack.kafka_bootstrap_servers, input_topic, seed=int(uuid.uuid4().int % 10**8))
    producer.burst(8_000)
    producer.produce_poison(3)
    group = f"scorefleet.{namespace}.{name}"

    def replicas() -> int:
        return int(demo.pipeline_status(api, namespace=namespace, name=name).get("readyReplicas") or 0)

    wait_for(lambda: replicas() >= 2, timeout_seconds=120, what="a scale-up above minReplicas")
    wait_for(lambda: demo.group_lag(admin, group=group, topic=input_topic) == 0, timeout_seconds=240,
              what="lag to drain to 0")
    wait_for(lambda: replicas() == 1 and int(
        demo.pipeline_status(api, namespace=namespace, name=name).get("replicas") or 0) == 1,
              timeout_seconds=180, what="a scale-down back to minReplicas")

    new_version = "2026.12.0"
    new_model = demo.ensure_model(stack, version=new_version, say=lambda line: None)
    manifest["spec"]["model"] = {"name": new_model.name, "version": new_version, "uri": new_model.uri,
                                 "sha256": new_model.sha256}
    producer.start()
    producer.rate_per_second = 100
    demo.apply_manifest(settings, stack, manifest)

    def serving_new_version() -> bool:
        status = demo.pipeline_status(api, namespace=namespace, name=name)
        return (status.get("model") or {}).get("version") == new_version and _condition(status, "Ready") == "True"

    wait_for(serving_new_version, timeout_seconds=240, what=f"status.model.version == {new_version}")
    produced_at_rollout = producer.produced
    wait_for(lambda: producer.produced >= produced_at_rollout + 300, timeout_seconds=60,
              what="300 more messages after the rollout, to be scored by the new version")
    assert producer.stop() == 0
    wait_for(lambda: demo.group_lag(admin, group=group, topic=input_topic) == 0, timeout_seconds=180,
              what="lag to drain to 0 after the rollout")

    accounting = demo.account(stack.kafka_bootstrap_servers, output_topic=output_topic,
                              dead_letter_topic=f"{output_topic}.dlq", produced_ids=producer.produced_ids)
    assert accounting.missing(producer.produced_ids) == set()
    assert accounting.dead_letter_reasons.total() >= 3
    assert set(accounting.model_versions) == {model.version, new_version}
    events = demo.scale_events(api, namespace=namespace, name=name)
    assert len(events) >= 2, events
    k8s.CustomObjectsApi(api).delete_namespaced_custom_object(demo.GROUP, demo.VERSION, namespace, demo.PLURAL, name)

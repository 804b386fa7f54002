"""The dev stack's own parts, for real: Kafka round trip, lag through the exporter into
Prometheus, Kubernetes garbage collection."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition
from kubernetes import client as k8s
from scorefleet_devstack.stack import Endpoints

from tests.waiting import wait_for


def test_kafka_round_trip(kafka_bootstrap_servers: str, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "acks": "all"})
    for i in range(10):
        producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode())
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap_servers, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen: set[bytes] = set()
    deadline = time.monotonic() + 30
    while len(seen) < 10 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None and message.value() is not None:
            seen.add(bytes(message.value() or b""))
    consumer.close()
    assert seen == {f"v{i}".encode() for i in range(10)}


def test_consumer_group_lag_reaches_prometheus(stack: Endpoints, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory(partitions=3)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap_servers})
    for i in range(30):
        producer.produce(topic, value=b"x", partition=i % 3)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap_servers, "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 10), TopicPartition(topic, 2, 0)],
                    asynchronous=False)
    consumer.close()
    query = f'kafka_consumergroup_lag{{consumergroup="{group}",topic="{topic}"}}'

    def lag_by_partition() -> dict[str, float] | None:
        response = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
        result = response.json()["data"]["result"]
        by_partition = {r["metric"]["partition"]: float(r["value"][1]) for r in result}
        return by_partition if len(by_partition) == 3 else None

    assert wait_for(lag_by_partition, timeout_seconds=60, what=query) == {"0": 6.0, "1": 0.0, "2": 10.0}


def test_garbage_collection_removes_owned_object(kube_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="owner")))
    assert owner.metadata is not None and owner.metadata.uid is not None
    reference = k8s.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="owned", owner_references=[reference])))
    core.delete_namespaced_config_map("owner", namespace)

    def owned_gone() -> bool:
        names = [cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items if cm.metadata]
        return "owned" not in names

    wait_for(owned_gone, timeout_seconds=60, what="the owned ConfigMap to be garbage-collected")

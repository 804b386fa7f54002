"""Shared pytest fixtures: the dev stack (real kube-apiserver, Kafka, Prometheus, node agent),
brought up once per test session or reused when already running, and per-test isolation
(a fresh namespace, uniquely named topics) cleaned up afterwards.

Unit tests request none of these and never touch the stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from scorefleet_devstack import stack as devstack
from scorefleet_devstack.config import StackSettings

from tests.waiting import wait_for


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/integration -> `integration`, tests/e2e -> `e2e`."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack() -> devstack.Endpoints:
    """The dev stack's endpoints; starts the stack if it is not running (idempotent `up`).
    The session does not stop it: `make test` does, and a developer's running stack stays up."""
    settings = StackSettings()
    return devstack.up(settings, say=lambda line: None)


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(stack: devstack.Endpoints) -> str:
    """host:port of the stack's Kafka broker."""
    return stack.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap_servers: str) -> AdminClient:
    """A confluent-kafka AdminClient on the stack's broker."""
    return AdminClient({"bootstrap.servers": kafka_bootstrap_servers})


@pytest.fixture
def topic_factory(kafka_admin: AdminClient) -> Iterator[Callable[..., str]]:
    """`create(partitions=1, prefix="t") -> name`: a new, uniquely named topic, ready for use
    (its partitions have leaders), deleted after the test."""
    created: list[str] = []

    def create(partitions: int = 1, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        kafka_admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)
        created.append(name)
        def has_leaders() -> bool:
            topic = kafka_admin.list_topics(topic=name, timeout=5).topics.get(name)
            return topic is not None and topic.error is None and len(topic.partitions) == partitions and all(
                p.leader >= 0 for p in topic.partitions.values())

        wait_for(has_leaders, timeout_seconds=30, what=f"leaders for the partitions of topic {name}")
        return name

    yield create
    if created:
        for future in kafka_admin.delete_topics(created, operation_timeout=30).values():
            future.exception(30)


@pytest.fixture(scope="session")
def kube_api(stack: devstack.Endpoints) -> k8s.ApiClient:
    """An official-client ApiClient on the stack's admin kubeconfig (group system:masters)."""
    return k8s_config.new_client_from_config(config_file=str(stack.kubeconfig))


@pytest.fixture
def namespace(kube_api: k8s.ApiClient) -> Iterator[str]:
    """A fresh namespace for one test (waits for its `default` ServiceAccount); deleted afterwards."""
    core = k8s.CoreV1Api(kube_api)
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"scorefleet.io/test": "true"})))
    wait_for(lambda: any(sa.metadata is not None and sa.metadata.name == "default"
                         for sa in core.list_namespaced_service_account(name).items),
             timeout_seconds=30, what=f"the default ServiceAccount of namespace {name}")
    yield name
    core.delete_namespace(name, propagation_policy="Background")

"""Fixtures of the autoscaling integration tests: the CRD, and an operator process scoped to one
namespace (so it never acts on other people's pipelines on the shared dev stack)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[3]
CRD_FILE = REPO / "crds" / "detectionpipelines.scorefleet.io.yaml"


@pytest.fixture(scope="session")
def crd(kube_api: k8s.ApiClient) -> None:
    """The DetectionPipeline CRD as generated from the models (created, or replaced to be current)."""
    api: Any = k8s.ApiextensionsV1Api(kube_api)  # the client's runtime types are looser than its stubs
    manifest = yaml.safe_load(CRD_FILE.read_text())
    name = manifest["metadata"]["name"]
    try:
        current = api.read_custom_resource_definition(name)
        manifest["metadata"]["resourceVersion"] = current.metadata.resource_version
        api.replace_custom_resource_definition(name, manifest)
    except ApiException as exc:
        if exc.status != 404:
            raise
        api.create_custom_resource_definition(manifest)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conditions = api.read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise TimeoutError("the DetectionPipeline CRD was not established within 30 s")


def operator_env(*, kubeconfig: Path, namespace: str, prometheus_url: str) -> dict[str, str]:
    """Environment of an operator process that watches only ``namespace``."""
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "SCOREFLEET_OPERATOR_NAMESPACES": namespace,
        "SCOREFLEET_OPERATOR_PEERING__STANDALONE": "true",
        "SCOREFLEET_OPERATOR_OBSERVABILITY__METRICS_PORT": "0",
        "SCOREFLEET_OPERATOR_OBSERVABILITY__LIVENESS_PORT": "0",
        "SCOREFLEET_OPERATOR_OBSERVABILITY__LOG_FORMAT": "text",
        "SCOREFLEET_OPERATOR_AUTOSCALE__PROMETHEUS_URL": prometheus_url,
        "SCOREFLEET_OPERATOR_AUTOSCALE__START_JITTER_SECONDS": "0",
    }


@pytest.fixture
def operator_process(stack: Any, namespace: str, crd: None, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`scorefleet-operator` as a local process for ``namespace``; stopped (SIGTERM, then SIGKILL) after."""
    log_path = tmp_path / "operator.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "scorefleet-operator")],
            env=operator_env(kubeconfig=stack.kubeconfig, namespace=namespace, prometheus_url=stack.prometheus_url),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.returncode not in (0, -signal.SIGTERM):
            print(log_path.read_text()[-5000:])

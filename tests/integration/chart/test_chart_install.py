"""`helm install` of the chart on the dev stack: the operator runs as a pod on the node agent, under
the chart's ServiceAccount and RBAC and nothing more, and reconciles a pipeline in the namespace
it watches.

The release watches only the test's namespace (a cluster-wide operator would act on other tests'
pipelines). The node agent runs the image `.../scorefleet-operator:<tag>` as the venv's
`scorefleet-operator` console script, the image's ENTRYPOINT. Every wait is a condition poll with
a deadline.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from helm_chart import CHART, RELEASE, REPO, write_values
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from scorefleet_devstack.config import StackSettings

from tests.waiting import wait_for

T = TypeVar("T")

NODE_NAME = "scorefleet-node"
POD_READY_TIMEOUT_SECONDS = 180.0  # a loaded 2-core machine starts Python slowly
RECONCILE_TIMEOUT_SECONDS = 120.0
SELECTOR = f"app.kubernetes.io/name=scorefleet-operator,app.kubernetes.io/instance={RELEASE}"


def node_agent_ready(kube_api: k8s.ApiClient) -> bool:
    try:
        node: Any = k8s.CoreV1Api(kube_api).read_node(NODE_NAME)
    except ApiException:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def helm_cmd(helm: Path, kubeconfig: Path, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "--kubeconfig", str(kubeconfig), "--namespace", namespace, *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture
def release_values() -> dict[str, Any]:
    """Values on top of the test defaults (override with `pytest.mark.parametrize` indirectly)."""
    return {}


@pytest.fixture
def release(
    stack: Any, kube_api: k8s.ApiClient, namespace: str, helm: Path, tmp_path: Path, release_values: dict[str, Any]
) -> Iterator[str]:
    """The chart installed into `namespace`, watching only that namespace; uninstalled afterwards
    (its cluster-scoped discovery ClusterRole would otherwise outlive the namespace)."""
    if not node_agent_ready(kube_api):
        pytest.skip(f"no Ready node {NODE_NAME!r}: the dev stack's node agent is not running")
    values = {"watchNamespaces": [namespace], "logging": {"format": "text"}, "watch": {"resyncIntervalSeconds": 60},
              **release_values}  # fmt: skip
    kubeconfig = Path(stack.kubeconfig)
    result = helm_cmd(helm, kubeconfig, namespace, "install", RELEASE, str(CHART),
                      "--values", str(write_values(values, tmp_path)))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        yield namespace
    finally:
        result = helm_cmd(helm, kubeconfig, namespace, "uninstall", RELEASE, "--wait", "--timeout", "60s")
        assert result.returncode == 0, result.stdout + result.stderr


def metrics_text(pod_ip: str, port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://{pod_ip}:{port}/metrics", timeout=3) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def sample(text: str, name: str) -> float | None:
    """The value of the unlabelled-or-first sample called exactly `name` in exposition `text`."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_dev_stack_maps_the_chart_images_to_the_images_entrypoints(stack: Any) -> None:
    """The node agent's image map runs, for each image name, the console script of the same name:
    what the Dockerfiles' ENTRYPOINTs run (tests/unit/chart checks those)."""
    image_map = json.loads((StackSettings().state_dir / "image-map.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for image, script in ((values["image"]["repository"], "scorefleet-operator"),
                          (values["scorer"]["image"]["repository"], "scorefleet-scorer")):  # fmt: skip
        keys = [key for key in image_map if key in image]
        assert keys, f"{image} is not in the node agent's image map {sorted(image_map)}"
        argv = image_map[max(keys, key=len)]
        assert Path(argv[0]).name == script and len(argv) == 1, argv


def test_helm_install_runs_the_operator_pod_which_reconciles_under_the_charts_rbac(
    kube_api: k8s.ApiClient, release: str
) -> None:
    namespace = release
    core: Any = k8s.CoreV1Api(kube_api)
    custom: Any = k8s.CustomObjectsApi(kube_api)

    def ready_pod() -> Any:
        pods = core.list_namespaced_pod(namespace, label_selector=SELECTOR).items
        return next((p for p in pods if is_ready(p)), None)

    pod = wait_for(ready_pod, timeout_seconds=POD_READY_TIMEOUT_SECONDS, what="the operator pod to be Ready")
    assert pod.spec.service_account_name == f"{RELEASE}-scorefleet"
    assert pod.status.pod_ip and pod.status.pod_ip != "0.0.0.0"
    (container,) = pod.spec.containers
    assert "scorefleet-operator" in container.image and not container.command  # runs the image's entrypoint
    metrics_port = next(p.container_port for p in container.ports if p.name == "http-metrics")
    text = wait_for(lambda: metrics_text(pod.status.pod_ip, metrics_port), timeout_seconds=30,
                    what="/metrics on the pod IP")  # fmt: skip
    assert "scorefleet_operator_reconciles_total" in text

    # A pipeline in the watched namespace, scaled to zero so no scorer pod starts: the operator pod
    # must create its children and status with nothing but the chart's RBAC.
    pipeline = yaml.safe_load((REPO / "examples" / "pipeline.yaml").read_text())
    pipeline["metadata"] = {"name": "chart-install", "namespace": namespace}
    pipeline["spec"]["scaling"]["minReplicas"] = 0
    custom.create_namespaced_custom_object("scorefleet.io", "v1alpha1", namespace, "detectionpipelines", pipeline)
    apps: Any = k8s.AppsV1Api(kube_api)
    wait_for(lambda: apps.read_namespaced_deployment("chart-install-scorer", namespace),
             timeout_seconds=RECONCILE_TIMEOUT_SECONDS, what="the pipeline's scorer Deployment")  # fmt: skip

    def observed() -> bool:
        body = custom.get_namespaced_custom_object("scorefleet.io", "v1alpha1", namespace, "detectionpipelines",
                                                   "chart-install")  # fmt: skip
        status = body.get("status") or {}
        return bool(status.get("observedGeneration") == body["metadata"]["generation"])

    wait_for(observed, timeout_seconds=RECONCILE_TIMEOUT_SECONDS, what="status.observedGeneration == generation")

    def reconciled_by_the_pod() -> bool:
        text = metrics_text(pod.status.pod_ip, metrics_port)
        succeeded = sample(text, 'scorefleet_operator_reconciles_total{result="success"}')
        return bool(succeeded and sample(text, "scorefleet_operator_pipelines_managed") == 1.0)

    # This operator watches only this namespace: a success here is its own reconcile of our pipeline.
    wait_for(reconciled_by_the_pod, timeout_seconds=RECONCILE_TIMEOUT_SECONDS,
             what="the operator pod's metrics to count the pipeline's reconcile")  # fmt: skip
    statuses = core.read_namespaced_pod(pod.metadata.name, namespace).status.container_statuses
    restarted = [s.restart_count for s in statuses]
    assert restarted == [0], f"the operator container restarted: {restarted}"


@pytest.mark.parametrize("release_values", [pytest.param({"replicaCount": 2}, id="two-replicas")])
def test_two_replicas_coordinate_through_kopf_peering(kube_api: k8s.ApiClient, release: str) -> None:
    """With two replicas both pods run and keep alive in the chart's KopfPeering (kopf pauses the
    one with the lower priority), under the chart's RBAC for peerings."""
    namespace = release
    core: Any = k8s.CoreV1Api(kube_api)
    custom: Any = k8s.CustomObjectsApi(kube_api)

    def two_ready_pods() -> set[str] | None:
        pods = core.list_namespaced_pod(namespace, label_selector=SELECTOR).items
        names = {p.metadata.name for p in pods if is_ready(p)}
        return names if len(names) == 2 else None

    pods = wait_for(two_ready_pods, timeout_seconds=POD_READY_TIMEOUT_SECONDS, what="two Ready operator pods")

    def peers() -> set[str] | None:
        peering = custom.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", "scorefleet")
        found = {name for name, peer in (peering.get("status") or {}).items() if peer}
        return found if found == pods else None

    # kopf names each peer after POD_ID (the pod's name, from the downward API).
    wait_for(peers, timeout_seconds=RECONCILE_TIMEOUT_SECONDS, what=f"both pods {sorted(pods)} in the KopfPeering")

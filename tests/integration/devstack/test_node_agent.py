"""The node agent on the real stack: pods scheduled to the dev node run as local processes with
their own loopback IPs, volumes, service-account identity, restarts and waiting reasons.

Every wait is a condition poll with a deadline. Process checks use the pid the agent reports in
``containerID`` (``scorefleet://<pid>``) and the pod IP the process serves on.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s

from tests.waiting import wait_for

T = TypeVar("T")

POD_READY_TIMEOUT_SECONDS = 60.0


def pid_of(status: Any) -> int:
    container_id = status.container_id or ""
    assert container_id.startswith("scorefleet://"), container_id
    return int(container_id.removeprefix("scorefleet://"))


def process_alive(pid: int) -> bool:
    """True while ``pid`` is a live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def http_server_deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "web",
                            "image": "python:3.11-slim",
                            "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)"],
                            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    }


def serves_http(pod_ip: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{pod_ip}:8080/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_deployment_pods_run_scale_and_stop_as_processes(kube_api: k8s.ApiClient, namespace: str) -> None:
    apps: Any = k8s.AppsV1Api(kube_api)
    core: Any = k8s.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, http_server_deployment("web", 2))

    def ready_pods(count: int) -> Callable[[], list[Any] | None]:
        def check() -> list[Any] | None:
            pods = [p for p in core.list_namespaced_pod(namespace, label_selector="app=web").items if is_ready(p)]
            return pods if len(pods) == count else None

        return check

    two = wait_for(ready_pods(2), timeout_seconds=POD_READY_TIMEOUT_SECONDS, what="2 Ready pods")
    ips = {p.status.pod_ip for p in two}
    assert len(ips) == 2, f"pod IPs not distinct: {ips}"
    assert all(ip.startswith("127.") for ip in ips)
    assert all(serves_http(ip) for ip in ips)
    pids = {pid_of(p.status.container_statuses[0]) for p in two}
    assert all(process_alive(pid) for pid in pids)

    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    three = wait_for(ready_pods(3), timeout_seconds=POD_READY_TIMEOUT_SECONDS, what="3 Ready pods")
    all_pids = {pid_of(p.status.container_statuses[0]) for p in three}
    assert len(all_pids) == 3 and pids < all_pids, "scaling to 3 did not start a third process"
    assert len({p.status.pod_ip for p in three}) == 3
    assert all(process_alive(pid) for pid in all_pids)

    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")
    wait_for(
        lambda: not any(process_alive(pid) for pid in all_pids),
        timeout_seconds=30,
        what="all three processes to end",
    )
    wait_for(
        lambda: not core.list_namespaced_pod(namespace, label_selector="app=web").items,
        timeout_seconds=30,
        what="the pods to be deleted",
    )


def single_container_pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [{"name": "main", **container}], **spec},
    }


def container_status(core: Any, namespace: str, name: str) -> Any:
    statuses = core.read_namespaced_pod(name, namespace).status.container_statuses
    return statuses[0] if statuses else None


def test_crashed_container_is_restarted_with_termination_message(kube_api: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(kube_api)
    script = "echo run started; echo 'bad config: x' > /dev/termination-log; sleep 0.5; exit 3"
    core.create_namespaced_pod(
        namespace, single_container_pod("crasher", {"image": "busybox", "command": ["sh", "-c", script]})
    )

    def restarted_twice() -> Any:
        status = container_status(core, namespace, "crasher")
        return status if status is not None and status.restart_count >= 2 else None

    status = wait_for(restarted_twice, timeout_seconds=45, what="restartCount >= 2")
    last = status.last_state.terminated
    assert last is not None
    assert (last.exit_code, last.reason, last.message.strip()) == (3, "Error", "bad config: x")
    assert core.read_namespaced_pod("crasher", namespace).status.phase == "Running"
    # `kubectl logs --previous`, through the apiserver's proxy to the agent's kubelet API.
    assert core.read_namespaced_pod_log("crasher", namespace, previous=True) == "run started\n"


def test_pod_sees_its_config_map_file_at_the_mount_path(kube_api: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "app-config"}, "data": {"app.conf": "threshold=0.85\n", "other": "x"}}
    )
    # A fixed path: the agent creates missing mount points on the host as empty directories.
    mount_path = "/etc/scorefleet-test/config"
    container = {
        "image": "busybox",
        "command": ["sh", "-c", f"cat {mount_path}/conf/app.conf > /dev/termination-log"],
        "volumeMounts": [{"name": "config", "mountPath": mount_path}],
    }
    volumes = [
        {"name": "config", "configMap": {"name": "app-config", "items": [{"key": "app.conf", "path": "conf/app.conf"}]}}
    ]
    core.create_namespaced_pod(
        namespace, single_container_pod("reader", container, restartPolicy="Never", volumes=volumes)
    )
    pod = wait_for(
        lambda: (p := core.read_namespaced_pod("reader", namespace)).status.phase in ("Succeeded", "Failed") and p,
        timeout_seconds=POD_READY_TIMEOUT_SECONDS,
        what="the reader pod to finish",
    )
    terminated = pod.status.container_statuses[0].state.terminated
    assert (pod.status.phase, terminated.message) == ("Succeeded", "threshold=0.85\n")
    assert not any(Path(mount_path).iterdir()), "the ConfigMap mount leaked out of the pod's mount namespace"


IN_CLUSTER_SCRIPT = """
import json
from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_incluster_config()
core = client.CoreV1Api()
namespace = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
result = {"namespace": namespace, "pods": len(core.list_namespaced_pod(namespace).items)}
try:
    core.list_namespaced_secret(namespace)
    result["secrets"] = 200
except ApiException as error:
    result["secrets"] = error.status
review = client.AuthenticationV1Api().create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                  "kind": "SelfSubjectReview"})
result["user"] = review.status.user_info.username
open("/dev/termination-log", "w").write(json.dumps(result))
"""


def test_in_cluster_client_acts_as_its_service_account(kube_api: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(kube_api)
    rbac: Any = k8s.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "pod-reader"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "pod-reader", "namespace": namespace}],
        },
    )
    container = {"image": "python:3.11-slim", "command": [sys.executable, "-c", IN_CLUSTER_SCRIPT]}
    core.create_namespaced_pod(
        namespace,
        single_container_pod("in-cluster", container, restartPolicy="Never", serviceAccountName="pod-reader"),
    )
    pod = wait_for(
        lambda: (p := core.read_namespaced_pod("in-cluster", namespace)).status.phase in ("Succeeded", "Failed") and p,
        timeout_seconds=POD_READY_TIMEOUT_SECONDS,
        what="the in-cluster client pod to finish",
    )
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Succeeded", terminated.message
    result = json.loads(terminated.message)
    assert result == {
        "namespace": namespace,
        "pods": 1,
        "secrets": 403,
        "user": f"system:serviceaccount:{namespace}:pod-reader",
    }


@pytest.mark.parametrize(
    ("container", "reason", "message_part"),
    [
        pytest.param(
            {"image": "busybox", "command": ["/nonexistent/bin/tool", "--flag"]},
            "RunContainerError",
            '"/nonexistent/bin/tool"',
            id="command-not-found",
        ),
        pytest.param(
            {"image": "registry.example/unmapped-image:1"},
            "ErrImagePull",
            "unmapped-image",
            id="image-without-mapping",
        ),
    ],
)
def test_pod_that_cannot_start_shows_waiting_reason(
    kube_api: k8s.ApiClient, namespace: str, container: dict[str, Any], reason: str, message_part: str
) -> None:
    core: Any = k8s.CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, single_container_pod("broken", container))

    def waiting() -> Any:
        status = container_status(core, namespace, "broken")
        state = status.state.waiting if status is not None else None
        return state if state is not None and state.reason == reason else None

    state = wait_for(waiting, timeout_seconds=POD_READY_TIMEOUT_SECONDS, what=f"waiting reason {reason}")
    assert message_part in (state.message or "")


def test_exec_readiness_probe_runs_inside_the_pod_mount_namespace(kube_api: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(kube_api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "flags"}, "data": {"ready": "yes"}})
    mount_path = "/etc/scorefleet-test/flags"
    container = {
        "image": "busybox",
        "command": ["sleep", "3600"],
        "volumeMounts": [{"name": "flags", "mountPath": mount_path}],
        # The file exists only inside the pod's mount namespace, so Ready proves where the probe ran.
        "readinessProbe": {"exec": {"command": ["cat", f"{mount_path}/ready"]}, "periodSeconds": 1},
    }
    volumes = [{"name": "flags", "configMap": {"name": "flags"}}]
    core.create_namespaced_pod(namespace, single_container_pod("probed", container, volumes=volumes))
    wait_for(
        lambda: is_ready(core.read_namespaced_pod("probed", namespace)),
        timeout_seconds=POD_READY_TIMEOUT_SECONDS,
        what="the exec readiness probe to pass",
    )


def test_failing_liveness_probe_restarts_the_container(kube_api: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(kube_api)
    container = {
        "image": "busybox",
        "command": ["sleep", "3600"],
        "livenessProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 2},
    }
    core.create_namespaced_pod(namespace, single_container_pod("unhealthy", container))

    def restarted() -> Any:
        status = container_status(core, namespace, "unhealthy")
        return status if status is not None and status.restart_count >= 1 else None

    status = wait_for(restarted, timeout_seconds=45, what="a liveness restart")
    assert status.last_state.terminated.exit_code == 143, "expected SIGTERM (128+15) from the liveness kill"


def test_env_from_config_map_secret_and_downward_api(kube_api: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(kube_api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"MODE": "fast"}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}})
    container = {
        "image": "busybox",
        "command": ["sh", "-c", 'echo "$MODE_REF|$PASSWORD|$CFG_MODE|$POD_NAME|$URL" > /dev/termination-log'],
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "MODE_REF", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "URL", "value": "http://$(POD_IP):9102"},
        ],
    }
    core.create_namespaced_pod(namespace, single_container_pod("env", container, restartPolicy="Never"))
    pod = wait_for(
        lambda: (p := core.read_namespaced_pod("env", namespace)).status.phase in ("Succeeded", "Failed") and p,
        timeout_seconds=POD_READY_TIMEOUT_SECONDS,
        what="the env pod to finish",
    )
    message = pod.status.container_statuses[0].state.terminated.message
    assert message == f"fast|s3cret|fast|env|http://{pod.status.pod_ip}:9102\n"

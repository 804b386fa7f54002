"""The Node object and its heartbeats (Lease renewals, Ready condition), as kubelet keeps them.

The node lifecycle controller marks a node NotReady (and taints it) when neither its Lease in
``kube-node-lease`` nor its Ready condition's heartbeat is renewed within the grace period
(40-50 s), so the Lease is renewed every ``LEASE_RENEW_SECONDS`` and the status every
``STATUS_REPORT_SECONDS``.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests

from .kube import KubeApiError, KubeClient, is_not_found
from .settings import AgentSettings
from .status import rfc3339

log = logging.getLogger(__name__)

LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 10.0
STATUS_REPORT_SECONDS = 20.0
#: Generous fake capacity: the scheduler must never be the limit on a dev machine.
CAPACITY = {"cpu": "32", "memory": "64Gi", "pods": "250", "ephemeral-storage": "100Gi"}
AGENT_VERSION = "v1.34.4-scorefleet-node-agent"


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_status(settings: AgentSettings, *, now: datetime, ready_since: datetime) -> dict[str, Any]:
    """The Node ``status`` the agent reports: capacity, Ready condition, addresses, node info."""
    heartbeat = rfc3339(now)

    def condition(kind: str, value: str, reason: str, message: str, since: datetime) -> dict[str, str]:
        return {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": rfc3339(since),
        }

    return {
        "capacity": CAPACITY,
        "allocatable": CAPACITY,
        "conditions": [
            condition(
                "MemoryPressure", "False", "KubeletHasSufficientMemory", "node agent has sufficient memory", ready_since
            ),
            condition(
                "DiskPressure", "False", "KubeletHasNoDiskPressure", "node agent has no disk pressure", ready_since
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "node agent has sufficient PID available",
                ready_since,
            ),
            condition("Ready", "True", "KubeletReady", "scorefleet node agent is posting ready status", ready_since),
        ],
        # No Hostname address: the apiserver prefers it for kubelet calls and the node name
        # does not resolve; InternalIP makes `kubectl logs` reach the agent's kubelet API.
        "addresses": [{"type": "InternalIP", "address": settings.host_ip}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": settings.kubelet_port}},
        "nodeInfo": {
            "machineID": _read_first_line("/etc/machine-id"),
            "systemUUID": _read_first_line("/etc/machine-id"),
            "bootID": _read_first_line("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": "scorefleet-process://0.1.0",
            "kubeletVersion": AGENT_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": _architecture(),
        },
    }


def _read_first_line(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def _os_image() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
    except OSError:
        return "Linux"


def _architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


class NodeHeartbeat(threading.Thread):
    """Registers the Node, then renews its Lease and status until ``stop`` is set.

    API failures are logged and retried on the next beat; they never end the thread.
    """

    def __init__(self, settings: AgentSettings, *, stop: threading.Event) -> None:
        super().__init__(name="node-heartbeat", daemon=True)
        self._settings = settings
        self._stop = stop
        self._client = KubeClient(str(settings.kubeconfig))
        self._ready_since = datetime.now(UTC)
        self._status_due = 0.0

    def register(self) -> None:
        """Create (or update) the Node and post its status. Raises on API failure."""
        name = self._settings.node_name
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _architecture(),
            "node.kubernetes.io/instance-type": "scorefleet-node-agent",
        }
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {}}
        try:
            self._client.post("/api/v1/nodes", body=body)
            log.info("registered node %s", name)
        except KubeApiError as error:
            if error.status_code != 409:
                raise
            self._client.merge_patch(f"/api/v1/nodes/{name}", patch={"metadata": {"labels": labels}})
            log.info("node %s already registered; updated it", name)
        self._post_status()
        self._renew_lease()

    def run(self) -> None:
        """Beat until stopped."""
        while not self._stop.wait(LEASE_RENEW_SECONDS):
            try:
                self._renew_lease()
                if time.monotonic() >= self._status_due:
                    self._post_status()
                    self._status_due = time.monotonic() + STATUS_REPORT_SECONDS
            except (KubeApiError, requests.RequestException) as error:
                log.warning("node heartbeat failed (%s); retrying in %ss", error, LEASE_RENEW_SECONDS)
                if is_not_found(error):
                    self._reregister()

    def _reregister(self) -> None:
        """The Node was deleted under us: register it again, as kubelet does."""
        try:
            self.register()
        except (KubeApiError, requests.RequestException) as error:
            log.warning("re-registering node %s failed (%s)", self._settings.node_name, error)

    def _post_status(self) -> None:
        status = node_status(self._settings, now=datetime.now(UTC), ready_since=self._ready_since)
        self._client.merge_patch(f"/api/v1/nodes/{self._settings.node_name}/status", patch={"status": status})

    def _renew_lease(self) -> None:
        name = self._settings.node_name
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        spec = {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": _micro_time(datetime.now(UTC)),
        }
        try:
            self._client.merge_patch(path, patch={"spec": spec})
        except KubeApiError as error:
            if not is_not_found(error):
                raise
            node = self._client.get(f"/api/v1/nodes/{name}")
            owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}
            self._client.post(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                body={
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease", "ownerReferences": [owner]},
                    "spec": spec,
                },
            )

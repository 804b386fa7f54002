"""The node agent's top: registers the node, watches its pods, runs one worker per pod.

Flow: start -> adopt-or-clean what a previous agent left in ``<state>/pods`` -> register the
Node and start heartbeats -> list+watch pods with ``spec.nodeName=<node>`` (re-listing after a
watch ends or fails) -> dispatch each pod to its ``PodWorker``. ``stop()`` (SIGTERM) makes every
worker stop its processes; pods stay in the API, as they do when a kubelet goes away.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from typing import Any

import requests

from .ip_pool import PodIPPool
from .kube import KubeApiError, KubeClient
from .kubelet_server import KubeletServer
from .node import NodeHeartbeat
from .pod_worker import PodWorker, WorkerContext, kill_recorded_processes, load_state
from .settings import AgentSettings
from .sockets import addresses_listened_on
from .status import PodPhase

log = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 240
RETRY_SECONDS = 2.0
ORPHAN_GRACE_SECONDS = 5.0
#: How long ``stop`` waits for workers to stop their processes.
STOP_TIMEOUT_SECONDS = 15.0
TERMINAL_PHASES = (str(PodPhase.SUCCEEDED), str(PodPhase.FAILED))


class NodeAgent:
    """Runs the pods bound to ``settings.node_name``. ``run`` blocks until ``stop`` is called."""

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings
        self._stopping = threading.Event()
        self._ip_pool = PodIPPool(settings.pod_ip_prefix)
        self._ip_lock = threading.Lock()
        self._workers: dict[str, PodWorker] = {}
        #: UIDs whose worker has finished (pod deleted); late watch events for them are echoes.
        self._finished: set[str] = set()
        self._leftovers: dict[str, dict[str, Any]] = {}
        self._context = WorkerContext(
            settings=settings, allocate_ip=self._allocate_ip, release_ip=self._release_ip, shutting_down=self._stopping
        )

    def _allocate_ip(self, pod_uid: str, preferred: str) -> str:
        with self._ip_lock:
            if preferred and self._ip_pool.reserve(pod_uid, address=preferred):
                return preferred
            occupied = addresses_listened_on(self._settings.pod_ip_prefix)
            return self._ip_pool.allocate(pod_uid, occupied=occupied)

    def _release_ip(self, pod_uid: str) -> None:
        with self._ip_lock:
            self._ip_pool.release(pod_uid)

    def run(self) -> None:
        """Serve until ``stop``; then wait (bounded) for the workers to stop their processes."""
        self._settings.pods_dir.mkdir(parents=True, exist_ok=True)
        self._load_leftovers()
        client = KubeClient(str(self._settings.kubeconfig))
        heartbeat = NodeHeartbeat(self._settings, stop=self._stopping)
        while not self._stopping.is_set():
            try:
                heartbeat.register()
                break
            except (KubeApiError, requests.RequestException) as error:
                log.warning("cannot register node %s yet (%s); retrying", self._settings.node_name, error)
                self._stopping.wait(RETRY_SECONDS)
        heartbeat.start()
        try:
            kubelet_api: KubeletServer | None = KubeletServer(self._settings)
        except OSError as error:
            log.error(
                "kubelet API not served (kubectl logs will fail): port %s: %s", self._settings.kubelet_port, error
            )
            kubelet_api = None
        if kubelet_api is not None:
            kubelet_api.start()
        watcher = threading.Thread(target=self._watch_forever, args=(client,), name="pod-watch", daemon=True)
        watcher.start()
        self._stopping.wait()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for worker in list(self._workers.values()):
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        if kubelet_api is not None:
            kubelet_api.shutdown()
        log.info("node agent stopped")

    def stop(self) -> None:
        """Ask the agent to stop (safe from a signal handler)."""
        self._stopping.set()

    def _load_leftovers(self) -> None:
        """Read the state records of pods a previous agent ran; they are adopted or cleaned up
        once the first pod list shows which pods still exist."""
        for pod_dir in self._settings.pods_dir.iterdir():
            state = load_state(pod_dir)
            if state is None:
                shutil.rmtree(pod_dir, ignore_errors=True)
                continue
            self._leftovers[pod_dir.name] = state

    def _watch_forever(self, client: KubeClient) -> None:
        selector = {"fieldSelector": f"spec.nodeName={self._settings.node_name}"}
        while not self._stopping.is_set():
            try:
                listing = client.get("/api/v1/pods", params=selector)
                self._sync(listing.get("items") or [])
                version = listing["metadata"]["resourceVersion"]
                for event in client.watch(
                    "/api/v1/pods",
                    params={**selector, "resourceVersion": version, "allowWatchBookmarks": "true"},
                    timeout_seconds=WATCH_TIMEOUT_SECONDS,
                ):
                    if self._stopping.is_set():
                        return
                    if event["type"] == "ERROR":
                        log.info("pod watch ended: %s", event["object"].get("message"))
                        break
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._dispatch(event["object"])
                    elif event["type"] == "DELETED":
                        self._forget(event["object"]["metadata"]["uid"])
            except (KubeApiError, requests.RequestException, ValueError) as error:
                log.warning("pod list/watch failed (%s); re-listing in %ss", error, RETRY_SECONDS)
                self._stopping.wait(RETRY_SECONDS)
            except Exception:
                # A bug handling one event must not leave the node deaf: log it and re-list.
                log.exception("handling pod events failed; re-listing in %ss", RETRY_SECONDS)
                self._stopping.wait(RETRY_SECONDS)

    def _sync(self, pods: list[dict[str, Any]]) -> None:
        """Reconcile workers with a full list of the node's pods."""
        present = {pod["metadata"]["uid"] for pod in pods}
        for uid, state in list(self._leftovers.items()):
            if uid not in present:
                log.info(
                    "cleaning up pod %s/%s (%s) left by a previous agent",
                    state.get("namespace"),
                    state.get("name"),
                    uid,
                )
                kill_recorded_processes(state, grace_seconds=ORPHAN_GRACE_SECONDS)
                shutil.rmtree(self._settings.pods_dir / uid, ignore_errors=True)
                del self._leftovers[uid]
        for uid in list(self._workers):
            if uid not in present:
                self._forget(uid)
        for pod in pods:
            self._dispatch(pod)

    def _dispatch(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        for done in [u for u, w in self._workers.items() if not w.is_alive()]:
            self._finished.add(done)
            del self._workers[done]
        if uid in self._finished:
            return
        worker = self._workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        adopted = self._leftovers.pop(uid, None)
        if adopted is None and (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            if pod["metadata"].get("deletionTimestamp"):
                self._delete_terminal(pod)
            return
        worker = PodWorker(pod, context=self._context, adopted=adopted)
        self._workers[uid] = worker
        worker.start()

    def _delete_terminal(self, pod: dict[str, Any]) -> None:
        metadata = pod["metadata"]
        try:
            KubeClient(str(self._settings.kubeconfig)).delete(
                f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}",
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": metadata["uid"]}},
            )
        except (KubeApiError, requests.RequestException) as error:
            log.warning("deleting finished pod %s/%s failed: %s", metadata["namespace"], metadata["name"], error)

    def _forget(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is not None:
            worker.gone()

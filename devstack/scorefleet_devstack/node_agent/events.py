"""Kubelet-style Events for a pod (Started, Killing, BackOff, Unhealthy, Failed, FailedMount).

Repeats of the same (reason, message, container) bump the existing Event's ``count`` and
``lastTimestamp`` instead of creating new objects, as client-go's event correlator does.
Posting an Event is best effort: a failure is logged and never disturbs the pod.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import requests

from .kube import KubeApiError, KubeClient
from .status import rfc3339

log = logging.getLogger(__name__)


class EventType(StrEnum):
    """Event ``type`` values."""

    NORMAL = "Normal"
    WARNING = "Warning"


class EventReason(StrEnum):
    """Event ``reason`` values, as kubelet records them."""

    STARTED = "Started"
    KILLING = "Killing"
    BACK_OFF = "BackOff"
    FAILED = "Failed"
    FAILED_MOUNT = "FailedMount"
    UNHEALTHY = "Unhealthy"


class PodEventRecorder:
    """Records Events about one pod, as ``kubelet`` on ``node_name``."""

    def __init__(self, client: KubeClient, *, pod: Mapping[str, Any], node_name: str) -> None:
        self._client = client
        self._metadata = pod["metadata"]
        self._node_name = node_name
        self._seen: dict[tuple[str, str, str], tuple[str, int]] = {}

    def emit(self, event_type: EventType, *, reason: EventReason, message: str, container: str = "") -> None:
        """Record one occurrence; ``container`` sets ``involvedObject.fieldPath``."""
        namespace = self._metadata["namespace"]
        now = rfc3339(datetime.now(UTC))
        key = (reason, message, container)
        try:
            if key in self._seen:
                name, count = self._seen[key]
                self._client.merge_patch(
                    f"/api/v1/namespaces/{namespace}/events/{name}",
                    patch={"count": count + 1, "lastTimestamp": now},
                )
                self._seen[key] = (name, count + 1)
                return
            name = f"{self._metadata['name']}.{uuid.uuid4().hex[:16]}"
            involved: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": namespace,
                "name": self._metadata["name"],
                "uid": self._metadata["uid"],
            }
            if container:
                involved["fieldPath"] = f"spec.containers{{{container}}}"
            self._client.post(
                f"/api/v1/namespaces/{namespace}/events",
                body={
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": involved,
                    "reason": str(reason),
                    "message": message,
                    "type": str(event_type),
                    "source": {"component": "kubelet", "host": self._node_name},
                    "reportingComponent": "kubelet",
                    "reportingInstance": self._node_name,
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
            )
            self._seen[key] = (name, 1)
        except (KubeApiError, requests.RequestException) as error:
            log.debug("event %s for pod %s/%s not recorded: %s", reason, namespace, self._metadata["name"], error)

"""Kubernetes adapter: server-side apply, reads and Events through the official `kubernetes` client.

Layer: adapters. The reconcile hands it rendered manifests (plain dicts) and gets plain dicts
back; nothing above this module sees the client. The client is synchronous, so every call runs
in the adapter's own thread pool (sized for concurrent reconciles) to keep kopf's event loop free.

Field managers: everything the reconcile writes is applied as `scorefleet-operator`; the
Deployment's `spec.replicas` is applied only by `scale_deployment`, as `scorefleet-autoscaler`,
so the two never fight over it (server-side apply keeps a field while any manager owns it).
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from kubernetes import client as k8s

from detection_operator.api.pipeline import API_VERSION, KIND, PLURAL

OPERATOR_FIELD_MANAGER = "scorefleet-operator"
AUTOSCALER_FIELD_MANAGER = "scorefleet-autoscaler"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
#: Seconds before a single API request is abandoned (connect, read).
REQUEST_TIMEOUT_SECONDS = (10.0, 30.0)

Manifest = dict[str, Any]


class EventType(StrEnum):
    """core/v1 Event type."""

    NORMAL = "Normal"
    WARNING = "Warning"


class KubeApiError(Exception):
    """The apiserver refused or failed a request.

    `status` is the HTTP status (0 when the server could not be reached), `reason` the Status
    reason (NotFound, Invalid, Conflict, Forbidden, ...), `message` the server's explanation,
    which names the offending field for Invalid.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def is_immutable_field(self) -> bool:
        """True when the apply tried to change a field that cannot change once set."""
        markers = ("may not change once set", "field is immutable")
        return self.status == 422 and any(marker in self.message for marker in markers)

    @property
    def is_user_error(self) -> bool:
        """True for refusals that retrying cannot fix (invalid object, bad request)."""
        return self.status in (400, 422)


@dataclass(frozen=True, slots=True)
class Kind:
    """A namespaced resource type: how to address it in the REST API."""

    api_version: str
    kind: str
    plural: str

    def cluster_path(self) -> str:
        """REST path of the collection across all namespaces."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{prefix}/{self.plural}"

    def path(self, namespace: str, name: str | None = None, *, subresource: str | None = None) -> str:
        """REST path of the collection (name None) or of one object (optionally a subresource)."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        if name is not None:
            path += "/" + quote(name, safe="")
        if subresource is not None:
            path += "/" + subresource
        return path


PIPELINE = Kind(API_VERSION, KIND, PLURAL)
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps")
SERVICE = Kind("v1", "Service", "services")
SERVICE_ACCOUNT = Kind("v1", "ServiceAccount", "serviceaccounts")
POD_DISRUPTION_BUDGET = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
POD = Kind("v1", "Pod", "pods")
EVENT = Kind("v1", "Event", "events")
KINDS: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (PIPELINE, DEPLOYMENT, CONFIG_MAP, SERVICE, SERVICE_ACCOUNT, POD_DISRUPTION_BUDGET, POD, EVENT)
}


def kind_of(manifest: Manifest) -> Kind:
    """The `Kind` of a manifest, from its apiVersion and kind. Raises KeyError for an unknown kind."""
    return KINDS[(manifest["apiVersion"], manifest["kind"])]


def replicas_owned_by(obj: Manifest, manager: str) -> bool:
    """True when field manager `manager` owns `spec.replicas` of `obj` (per its managedFields)."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager:
            continue
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {}):
            return True
    return False


class KubeAdapter:
    """Async facade over one `kubernetes.client.ApiClient` (JSON in, JSON out)."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        field_manager: str = OPERATOR_FIELD_MANAGER,
        max_concurrent_requests: int = 16,
    ) -> None:
        self._api = api_client
        self._field_manager = field_manager
        # Size the client's connection pool (Configuration.connection_pool_maxsize) to match.
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent_requests, thread_name_prefix="kube-api")

    def close(self) -> None:
        """Release the thread pool (requests in flight finish)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _request_sync(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # The client JSON-encodes dict bodies for JSON content types only; an apply patch goes as text.
        payload = json.dumps(body) if body is not None and content_type == APPLY_CONTENT_TYPE else body
        method, url, headers, _, _ = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(
                method, url, header_params=headers, body=payload, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
            data = response.read()
        except Exception as exc:  # urllib3/socket errors: the apiserver is unreachable
            raise KubeApiError(0, "Unreachable", f"{method} {path}: {exc}") from exc
        if not 200 <= response.status < 300:
            try:
                status = json.loads(data)
                reason, message = str(status.get("reason", "")), str(status.get("message", ""))
            except ValueError:
                reason, message = "", data.decode(errors="replace")[:2000]
            raise KubeApiError(response.status, reason or str(response.reason), message)
        return response.status, (json.loads(data) if data else None)

    async def _request_with_status(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        call = functools.partial(self._request_sync, method, path, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request_with_status(method, path, **kwargs))[1]

    async def get(self, kind: Kind, namespace: str, name: str) -> Manifest | None:
        """Return the object as JSON, or None when it does not exist. Raises KubeApiError otherwise."""
        try:
            result: Manifest = await self._request("GET", kind.path(namespace, name))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def get_cluster(self, kind: Kind, name: str) -> Manifest | None:
        """Return a cluster-scoped object as JSON, or None when it does not exist."""
        try:
            result: Manifest = await self._request("GET", f"{kind.cluster_path()}/{quote(name, safe='')}")
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def list(self, kind: Kind, namespace: str | None, *, label_selector: str = "") -> list[Manifest]:
        """Return the objects of `kind` in `namespace` (None: all namespaces) matching `label_selector`.

        Items get their `apiVersion` and `kind` (a list response leaves them out).
        """
        query = [("labelSelector", label_selector)] if label_selector else []
        path = kind.path(namespace) if namespace is not None else kind.cluster_path()
        result = await self._request("GET", path, query=query)
        items = list(result.get("items") or [])
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    async def apply(self, manifest: Manifest, *, field_manager: str | None = None) -> Manifest:
        """Server-side apply `manifest` (force: this manager takes the fields it sets) and return the result.

        Fields this manager applied before and `manifest` no longer contains are released (and
        removed if no other manager owns them). Raises KubeApiError (422 Invalid names the field).
        """
        return (await self.apply_with_outcome(manifest, field_manager=field_manager))[0]

    async def apply_with_outcome(
        self, manifest: Manifest, *, field_manager: str | None = None
    ) -> tuple[Manifest, bool]:
        """As `apply`; also returns True when the apply created the object (HTTP 201)."""
        meta = manifest["metadata"]
        status, result = await self._request_with_status(
            "PATCH",
            kind_of(manifest).path(meta["namespace"], meta["name"]),
            query=[("fieldManager", field_manager or self._field_manager), ("force", "true")],
            body=manifest,
            content_type=APPLY_CONTENT_TYPE,
        )
        return result, status == 201

    async def apply_pipeline_status(self, namespace: str, name: str, *, status: dict[str, Any]) -> Manifest:
        """Server-side apply the given fields of a DetectionPipeline's `.status` (status subresource).

        Only the fields in `status` are claimed by this manager; `conditions` is a list keyed by
        `type`, so each manager owns just the condition types it writes.
        """
        body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace},
                "status": status}
        result: Manifest = await self._request(
            "PATCH",
            PIPELINE.path(namespace, name, subresource="status"),
            query=[("fieldManager", self._field_manager), ("force", "true")],
            body=body,
            content_type=APPLY_CONTENT_TYPE,
        )
        return result

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> Manifest:
        """Set `spec.replicas` of Deployment `namespace/name` as field manager `scorefleet-autoscaler`.

        The one writer of replicas after creation (the reconcile's apply never sets them).
        Returns the Deployment. Raises KubeApiError (404 if the Deployment does not exist).
        """
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0, got {replicas}")
        # Apply would otherwise try to create a Deployment from just {spec: {replicas}} (a 422).
        if await self.get(DEPLOYMENT, namespace, name) is None:
            raise KubeApiError(404, "NotFound", f"deployments.apps {name!r} not found in {namespace!r}")
        return await self.apply_replicas(namespace, name, replicas)

    async def apply_replicas(self, namespace: str, name: str, replicas: int) -> Manifest:
        """As `scale_deployment` for a Deployment known to exist (no existence check)."""
        body = {
            "apiVersion": DEPLOYMENT.api_version,
            "kind": DEPLOYMENT.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas},
        }
        return await self.apply(body, field_manager=AUTOSCALER_FIELD_MANAGER)

    async def post_event(
        self,
        involved: Manifest,
        *,
        type_: EventType,
        reason: str,
        message: str,
        component: str = OPERATOR_FIELD_MANAGER,
    ) -> None:
        """Record a core/v1 Event about `involved` (an object with apiVersion/kind/metadata)."""
        meta = involved["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": type_.value,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._request("POST", EVENT.path(meta["namespace"]), body=event)

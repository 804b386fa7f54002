"""Thin synchronous Kubernetes API access for the node agent (adapter layer).

Wraps a pykube-ng ``HTTPClient`` (kubeconfig loading, client-certificate auth) and exposes the
handful of raw JSON calls the agent needs. Each thread should own its own ``KubeClient``
because a ``requests`` session is not guaranteed thread-safe.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pykube
import requests

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]


class KubeApiError(Exception):
    """An API call returned a non-success HTTP status.

    Attributes: ``status_code`` (int, HTTP status) and ``reason`` (the Status ``reason``, e.g.
    ``NotFound``, or an empty string).
    """

    def __init__(self, status_code: int, *, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status_code} {reason}: {message}")
        self.status_code = status_code
        self.reason = reason


class KubeClient:
    """Raw JSON access to one apiserver, configured from a kubeconfig file.

    Paths are absolute API paths such as ``/api/v1/namespaces/ns/pods/p``.
    All methods raise ``KubeApiError`` for HTTP errors and ``requests.RequestException`` for
    transport failures.
    """

    def __init__(self, kubeconfig_path: str, *, timeout_seconds: float = 15.0) -> None:
        self._http = pykube.HTTPClient(pykube.KubeConfig.from_file(kubeconfig_path), timeout=timeout_seconds)
        self._timeout_seconds = timeout_seconds

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> JsonObject:
        response = self._http.session.request(
            method,
            self._http.url + path,
            data=None if body is None else json.dumps(body),
            headers={"Content-Type": content_type},
            params=params,
            timeout=self._timeout_seconds,
        )
        _raise_for_status(response)
        result: JsonObject = response.json()
        return result

    def get(self, path: str, *, params: dict[str, str] | None = None) -> JsonObject:
        """GET ``path``; returns the decoded JSON object."""
        return self._request("GET", path, params=params)

    def post(self, path: str, *, body: JsonObject) -> JsonObject:
        """POST ``body`` to ``path``; returns the created object."""
        return self._request("POST", path, body=body)

    def merge_patch(self, path: str, *, patch: JsonObject) -> JsonObject:
        """JSON-merge-patch (RFC 7386) ``path``: lists in ``patch`` replace lists wholesale."""
        return self._request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def delete(self, path: str, *, body: JsonObject | None = None) -> JsonObject:
        """DELETE ``path`` with optional ``DeleteOptions`` ``body``."""
        return self._request("DELETE", path, body=body)

    def key_data(self, namespace: str, *, kind: str, name: str) -> dict[str, bytes] | None:
        """The decoded key -> bytes data of ConfigMap (``data`` + ``binaryData``) or Secret ``name``.

        ``kind`` is ``"ConfigMap"`` or ``"Secret"``. Returns None when the object does not exist.
        """
        resource = "secrets" if kind == "Secret" else "configmaps"
        try:
            obj = self.get(f"/api/v1/namespaces/{namespace}/{resource}/{name}")
        except KubeApiError as error:
            if error.status_code == 404:
                return None
            raise
        if kind == "Secret":
            return {key: base64.b64decode(value) for key, value in (obj.get("data") or {}).items()}
        data = {key: value.encode() for key, value in (obj.get("data") or {}).items()}
        data.update({key: base64.b64decode(value) for key, value in (obj.get("binaryData") or {}).items()})
        return data

    def watch(self, path: str, *, params: dict[str, str], timeout_seconds: int) -> Iterator[JsonObject]:
        """Stream watch events (``{"type": ..., "object": {...}}``) from a list ``path``.

        The server ends the stream after ``timeout_seconds``; the caller re-lists/re-watches.
        Raises ``KubeApiError`` if the watch cannot be opened (e.g. 410 Gone).
        """
        response = self._http.session.get(
            self._http.url + path,
            params={**params, "watch": "1", "timeoutSeconds": str(timeout_seconds)},
            stream=True,
            timeout=(self._timeout_seconds, timeout_seconds + 30),
        )
        _raise_for_status(response)
        with response:
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)


def _raise_for_status(response: requests.Response) -> None:
    if response.status_code < 400:
        return
    reason = ""
    message = response.text[:500]
    try:
        status = response.json()
        reason = status.get("reason", "")
        message = status.get("message", message)
    except ValueError:
        log.debug("non-JSON error body from %s", response.url)
    raise KubeApiError(response.status_code, reason=reason, message=message)


def is_not_found(error: Exception) -> bool:
    """True if ``error`` is a ``KubeApiError`` with HTTP 404."""
    return isinstance(error, KubeApiError) and error.status_code == 404

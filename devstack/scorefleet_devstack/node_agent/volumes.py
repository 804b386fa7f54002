"""Pod volumes: their contents on the host (I/O) and each container's mount plan (pure).

Every volume becomes a directory ``<pod dir>/volumes/<name>``; the container's mount wrapper
bind-mounts it (or a ``subPath`` of it) onto ``volumeMount.mountPath`` inside the container's
private mount namespace. API-data volumes (ConfigMap, Secret, projected, downwardAPI) are
read-only, as kubelet mounts them, and are rewritten in place (atomic per-file rename) on
refresh, so a running process sees updates and renewed service-account tokens.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import EnvReferenceError, downward_field
from .kube import KubeApiError, KubeClient, is_not_found

log = logging.getLogger(__name__)

#: Kubelet refreshes a projected token once 80 % of its lifetime has passed.
TOKEN_REFRESH_FRACTION = 0.8
#: Kubelet's default mode for files of API-data volumes (0644).
DEFAULT_FILE_MODE = 0o644
API_DATA_VOLUME_TYPES = ("configMap", "secret", "projected", "downwardAPI")
SUPPORTED_VOLUME_TYPES = (*API_DATA_VOLUME_TYPES, "emptyDir", "hostPath")


class VolumeError(Exception):
    """A volume cannot be prepared (missing object or key, unsupported type); message says which."""


@dataclass(frozen=True)
class MountSpec:
    """One bind mount: host ``source`` (file or directory) onto ``target`` in the container."""

    source: str
    target: str
    read_only: bool


@dataclass(frozen=True)
class PreparedVolumes:
    """Host directories per volume name, and when (monotonic seconds) they must be refreshed."""

    directories: Mapping[str, str]
    refresh_due_monotonic: float


def key_files(
    data: Mapping[str, bytes],
    *,
    items: Sequence[Mapping[str, Any]] | None,
    default_mode: int | None,
    optional: bool,
    source: str,
) -> dict[str, tuple[bytes, int]]:
    """Files (relative path -> (content, mode)) of a ConfigMap/Secret volume (or projected source).

    Without ``items`` every key becomes a file named after it; with ``items`` only the listed
    keys, at their ``path`` and ``mode``. ``source`` names the object for the error message.
    Raises ``VolumeError`` for an item whose key is missing, unless ``optional``.
    """
    mode = DEFAULT_FILE_MODE if default_mode is None else default_mode
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    files: dict[str, tuple[bytes, int]] = {}
    for item in items:
        key = item["key"]
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"{source} references non-existent config key: {key}")
        files[item["path"]] = (data[key], int(item.get("mode", mode)))
    return files


def plan_mounts(
    container: Mapping[str, Any], *, volumes: Sequence[Mapping[str, Any]], directories: Mapping[str, str]
) -> list[MountSpec]:
    """The bind mounts for ``container``'s ``volumeMounts``, parents before children.

    ``directories`` maps volume name -> prepared host directory. ``subPath`` selects a path
    inside the volume. Raises ``VolumeError`` for a mount naming an unknown volume.
    """
    types = {v["name"]: next((t for t in SUPPORTED_VOLUME_TYPES if t in v), "") for v in volumes}
    mounts: list[MountSpec] = []
    for mount in container.get("volumeMounts") or []:
        name = mount["name"]
        if name not in directories:
            raise VolumeError(f"volumeMount {name!r} of container {container.get('name')!r} names no volume of the pod")
        source = directories[name]
        if mount.get("subPath"):
            source = os.path.join(source, mount["subPath"])
        read_only = bool(mount.get("readOnly")) or types.get(name) in API_DATA_VOLUME_TYPES
        mounts.append(MountSpec(source=source, target=mount["mountPath"], read_only=read_only))
    return sorted(mounts, key=lambda m: len(Path(m.target).parts))


def write_files(directory: Path, *, files: Mapping[str, tuple[bytes, int]]) -> None:
    """Make ``directory`` hold exactly ``files``: atomic rename per file, stale files removed."""
    directory.mkdir(parents=True, exist_ok=True)
    for relative, (content, mode) in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(content)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    wanted = {directory / relative for relative in files}
    for path in sorted(directory.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


class VolumePreparer:
    """Fetches and writes a pod's volumes under ``<pod_dir>/volumes``.

    ``prepare`` raises ``VolumeError`` for a user's mistake (missing ConfigMap, unsupported type)
    and lets ``KubeApiError``/``requests`` errors through for infrastructure faults.
    """

    def __init__(self, client: KubeClient, *, pod_dir: Path) -> None:
        self._client = client
        self._root = pod_dir / "volumes"
        #: (path, audience, expirationSeconds) -> (token, monotonic time it must be renewed)
        self._tokens: dict[tuple[str, str, int], tuple[str, float]] = {}

    def prepare(self, pod: Mapping[str, Any], *, pod_ip: str, host_ip: str) -> PreparedVolumes:
        """Write every volume of ``pod``; returns their directories and the next refresh time."""
        directories: dict[str, str] = {}
        refresh_in_seconds = 60.0
        for volume in pod.get("spec", {}).get("volumes") or []:
            name = volume["name"]
            target = self._root / name
            if "emptyDir" in volume:
                target.mkdir(parents=True, exist_ok=True)
            elif "hostPath" in volume:
                host_path = Path(volume["hostPath"]["path"])
                if volume["hostPath"].get("type") in ("DirectoryOrCreate", None, ""):
                    host_path.mkdir(parents=True, exist_ok=True)
                directories[name] = str(host_path)
                continue
            elif "configMap" in volume:
                write_files(target, files=self._config_map_files(pod, source=volume["configMap"]))
            elif "secret" in volume:
                write_files(target, files=self._secret_files(pod, source=volume["secret"]))
            elif "downwardAPI" in volume:
                write_files(
                    target,
                    files=self._downward_files(pod, source=volume["downwardAPI"], pod_ip=pod_ip, host_ip=host_ip),
                )
            elif "projected" in volume:
                files, token_seconds = self._projected_files(
                    pod, projected=volume["projected"], pod_ip=pod_ip, host_ip=host_ip
                )
                write_files(target, files=files)
                refresh_in_seconds = min(refresh_in_seconds, token_seconds)
            else:
                kinds = sorted(set(volume) - {"name"})
                raise VolumeError(
                    f"volume {name!r} has type {kinds}, which the node agent does not support "
                    f"(supported: {list(SUPPORTED_VOLUME_TYPES)})"
                )
            directories[name] = str(target)
        return PreparedVolumes(directories, time.monotonic() + refresh_in_seconds)

    def _keyed_files(
        self, pod: Mapping[str, Any], *, source: Mapping[str, Any], kind: str, name: str, default_mode: int | None
    ) -> dict[str, tuple[bytes, int]]:
        namespace = pod["metadata"]["namespace"]
        data = self._client.key_data(namespace, kind=kind, name=name)
        optional = bool(source.get("optional"))
        if data is None:
            if optional:
                return {}
            raise VolumeError(f'{kind.lower()} "{name}" not found in namespace {namespace}')
        return key_files(
            data, items=source.get("items"), default_mode=default_mode, optional=optional, source=f"{kind} {name}"
        )

    def _config_map_files(self, pod: Mapping[str, Any], *, source: Mapping[str, Any]) -> dict[str, tuple[bytes, int]]:
        return self._keyed_files(
            pod, source=source, kind="ConfigMap", name=source.get("name", ""), default_mode=source.get("defaultMode")
        )

    def _secret_files(self, pod: Mapping[str, Any], *, source: Mapping[str, Any]) -> dict[str, tuple[bytes, int]]:
        return self._keyed_files(
            pod, source=source, kind="Secret", name=source.get("secretName", ""), default_mode=source.get("defaultMode")
        )

    def _downward_files(
        self, pod: Mapping[str, Any], *, source: Mapping[str, Any], pod_ip: str, host_ip: str
    ) -> dict[str, tuple[bytes, int]]:
        mode = source.get("defaultMode", DEFAULT_FILE_MODE)
        files: dict[str, tuple[bytes, int]] = {}
        for item in source.get("items") or []:
            if "fieldRef" not in item:
                raise VolumeError(
                    f"downwardAPI item {item.get('path')!r}: only fieldRef is supported by the node agent"
                )
            try:
                value = downward_field(pod, field_path=item["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip)
            except EnvReferenceError as error:
                raise VolumeError(str(error)) from error
            files[item["path"]] = (value.encode(), int(item.get("mode", mode)))
        return files

    def _projected_files(
        self, pod: Mapping[str, Any], *, projected: Mapping[str, Any], pod_ip: str, host_ip: str
    ) -> tuple[dict[str, tuple[bytes, int]], float]:
        """Files of a projected volume and seconds until its token (if any) needs refreshing."""
        default_mode = projected.get("defaultMode")
        files: dict[str, tuple[bytes, int]] = {}
        refresh_in_seconds = float("inf")
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                token_source = source["serviceAccountToken"]
                token, renew_in_seconds = self._token(pod, source=token_source)
                files[token_source["path"]] = (
                    token.encode(),
                    DEFAULT_FILE_MODE if default_mode is None else default_mode,
                )
                refresh_in_seconds = min(refresh_in_seconds, renew_in_seconds)
            elif "configMap" in source or "secret" in source:
                key, kind = ("configMap", "ConfigMap") if "configMap" in source else ("secret", "Secret")
                files.update(
                    self._keyed_files(
                        pod,
                        source=source[key],
                        kind=kind,
                        name=source[key].get("name", ""),
                        default_mode=default_mode,
                    )
                )
            elif "downwardAPI" in source:
                downward = {"defaultMode": default_mode or DEFAULT_FILE_MODE, **source["downwardAPI"]}
                files.update(self._downward_files(pod, source=downward, pod_ip=pod_ip, host_ip=host_ip))
            else:
                raise VolumeError(f"projected source {sorted(source)} is not supported by the node agent")
        return files, refresh_in_seconds

    def _token(self, pod: Mapping[str, Any], *, source: Mapping[str, Any]) -> tuple[str, float]:
        """The pod's token for ``source`` and seconds until it must be renewed: a cached token
        until 80 % of its lifetime has passed (as kubelet's token manager), else a new one."""
        key = (source["path"], source.get("audience", ""), int(source.get("expirationSeconds", 3607)))
        cached = self._tokens.get(key)
        now = time.monotonic()
        if cached is None or now >= cached[1]:
            token, lifetime_seconds = self._request_token(pod, source=source)
            cached = (token, now + lifetime_seconds * TOKEN_REFRESH_FRACTION)
            self._tokens[key] = cached
        return cached[0], cached[1] - now

    def _request_token(self, pod: Mapping[str, Any], *, source: Mapping[str, Any]) -> tuple[str, float]:
        """A bound service-account token for ``pod`` via the TokenRequest API, and its lifetime in seconds."""
        metadata = pod["metadata"]
        service_account = pod.get("spec", {}).get("serviceAccountName") or "default"
        expiration_seconds = int(source.get("expirationSeconds", 3607))
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [source["audience"]] if source.get("audience") else [],
                "expirationSeconds": expiration_seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": metadata["name"], "uid": metadata["uid"]},
            },
        }
        path = f"/api/v1/namespaces/{metadata['namespace']}/serviceaccounts/{service_account}/token"
        try:
            response = self._client.post(path, body=request)
        except KubeApiError as error:
            if is_not_found(error):
                raise VolumeError(
                    f'serviceaccount "{service_account}" not found in namespace {metadata["namespace"]}'
                ) from error
            raise
        return response["status"]["token"], float(expiration_seconds)

    def remove(self) -> None:
        """Delete every prepared volume directory (the pod is gone)."""
        shutil.rmtree(self._root, ignore_errors=True)

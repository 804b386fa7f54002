"""Pure: a container's environment, built as kubelet's ``makeEnvironmentVariables`` does.

Order and precedence: the service variables (``KUBERNETES_SERVICE_HOST``/``PORT``, ...) first,
then ``envFrom`` sources in order (later keys win, with their ``prefix``), then ``env`` entries in
order, each value ``$(VAR)``-expanded against everything defined before it. Values come from
lookups the caller has already fetched, so this module does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .commands import expand_references

_LABEL_OR_ANNOTATION = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class EnvReferenceError(Exception):
    """A non-optional reference (ConfigMap, Secret, key, field) cannot be resolved.

    The message reads like kubelet's (``configmap "x" not found``); the agent shows it as a
    ``CreateContainerConfigError`` waiting message and retries.
    """


def service_env(*, apiserver_host: str, apiserver_port: int) -> dict[str, str]:
    """The ``kubernetes`` service variables every container gets, pointing at the apiserver."""
    return {
        "KUBERNETES_SERVICE_HOST": apiserver_host,
        "KUBERNETES_SERVICE_PORT": str(apiserver_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(apiserver_port),
        "KUBERNETES_PORT": f"tcp://{apiserver_host}:{apiserver_port}",
    }


def downward_field(pod: Mapping[str, Any], *, field_path: str, pod_ip: str, host_ip: str) -> str:
    """The value of a downward-API ``fieldRef.fieldPath`` for ``pod`` (a Pod dict).

    Supports metadata.name/namespace/uid, metadata.labels['k'], metadata.annotations['k'],
    status.podIP, status.podIPs, status.hostIP, status.hostIPs, spec.nodeName,
    spec.serviceAccountName. Raises ``EnvReferenceError`` for any other path.
    """
    metadata = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
    }
    if field_path in simple:
        return str(simple[field_path])
    match = _LABEL_OR_ANNOTATION.match(field_path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    raise EnvReferenceError(f"fieldRef {field_path!r} is not supported by the node agent")


def _lookup(
    sources: Mapping[str, Mapping[str, str] | None], *, kind: str, ref: Mapping[str, Any], namespace: str
) -> str | None:
    name = ref.get("name", "")
    data = sources.get(name)
    optional = bool(ref.get("optional", False))
    if data is None:
        if optional:
            return None
        raise EnvReferenceError(f'{kind.lower()} "{name}" not found')
    key = ref.get("key", "")
    if key not in data:
        if optional:
            return None
        raise EnvReferenceError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key]


@dataclass(frozen=True)
class EnvSources:
    """Everything a container's env may refer to, fetched beforehand by the caller."""

    pod: Mapping[str, Any]
    """The Pod object (dict) the container belongs to."""
    pod_ip: str
    host_ip: str
    base_env: Mapping[str, str]
    """Variables defined first (service variables, PATH, HOSTNAME)."""
    config_maps: Mapping[str, Mapping[str, str] | None]
    """ConfigMap name -> data, or None when it does not exist."""
    secrets: Mapping[str, Mapping[str, str] | None]
    """Secret name -> decoded data, or None when it does not exist."""


def build_container_env(container: Mapping[str, Any], *, sources: EnvSources) -> dict[str, str]:
    """The environment of ``container`` (a pod-spec container dict), name -> value.

    Raises ``EnvReferenceError`` for an unresolved non-optional reference.
    """
    pod, pod_ip, host_ip = sources.pod, sources.pod_ip, sources.host_ip
    config_maps, secrets = sources.config_maps, sources.secrets
    namespace = pod.get("metadata", {}).get("namespace", "")
    env: dict[str, str] = dict(sources.base_env)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, field, lookup in (("ConfigMap", "configMapRef", config_maps), ("Secret", "secretRef", secrets)):
            ref = source.get(field)
            if ref is None:
                continue
            data = lookup.get(ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                raise EnvReferenceError(f'{kind.lower()} "{ref.get("name", "")}" not found')
            for key, data_value in data.items():
                if _ENV_NAME.match(prefix + key):
                    env[prefix + key] = data_value
    for entry in container.get("env") or []:
        name = entry["name"]
        if "value" in entry or "valueFrom" not in entry:
            env[name] = expand_references(str(entry.get("value", "")), variables=env)
            continue
        value_from = entry["valueFrom"]
        value: str | None
        if "fieldRef" in value_from:
            value = downward_field(pod, field_path=value_from["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip)
        elif "configMapKeyRef" in value_from:
            value = _lookup(config_maps, kind="ConfigMap", ref=value_from["configMapKeyRef"], namespace=namespace)
        elif "secretKeyRef" in value_from:
            value = _lookup(secrets, kind="Secret", ref=value_from["secretKeyRef"], namespace=namespace)
        else:
            raise EnvReferenceError(f"env {name}: valueFrom {sorted(value_from)} is not supported by the node agent")
        if value is not None:
            env[name] = value
    return env


def referenced_objects(pod: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets that the pod's containers' env/envFrom refer to."""
    config_maps: set[str] = set()
    secrets: set[str] = set()
    spec = pod.get("spec", {})
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                config_maps.add(source["configMapRef"].get("name", ""))
            if "secretRef" in source:
                secrets.add(source["secretRef"].get("name", ""))
        for entry in container.get("env") or []:
            value_from = entry.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                config_maps.add(value_from["configMapKeyRef"].get("name", ""))
            if "secretKeyRef" in value_from:
                secrets.add(value_from["secretKeyRef"].get("name", ""))
    return config_maps, secrets

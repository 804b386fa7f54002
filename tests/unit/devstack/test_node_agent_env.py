"""Unit tests: container environment (downward API, ConfigMap/Secret refs, envFrom, order)."""

from __future__ import annotations

from typing import Any

import pytest
from scorefleet_devstack.node_agent.env import (
    EnvReferenceError,
    EnvSources,
    build_container_env,
    downward_field,
    referenced_objects,
    service_env,
)

POD: dict[str, Any] = {
    "metadata": {
        "name": "web-1",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"app": "web"},
        "annotations": {"note": "n"},
    },
    "spec": {"nodeName": "scorefleet-node", "serviceAccountName": "scorer"},
}
CONFIG_MAPS: dict[str, dict[str, str] | None] = {"cfg": {"MODE": "fast", "bad key": "x"}, "absent": None}
SECRETS: dict[str, dict[str, str] | None] = {"creds": {"password": "s3cret"}}
BASE = service_env(apiserver_host="127.0.0.1", apiserver_port=16443)


def build(container: dict[str, Any]) -> dict[str, str]:
    sources = EnvSources(
        pod=POD, pod_ip="127.0.1.4", host_ip="127.0.0.1", base_env=BASE, config_maps=CONFIG_MAPS, secrets=SECRETS
    )
    return build_container_env(container, sources=sources)


def field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("metadata.name", "web-1", id="name"),
        pytest.param("metadata.namespace", "ns", id="namespace"),
        pytest.param("metadata.uid", "u-1", id="uid"),
        pytest.param("status.podIP", "127.0.1.4", id="pod-ip"),
        pytest.param("status.hostIP", "127.0.0.1", id="host-ip"),
        pytest.param("spec.nodeName", "scorefleet-node", id="node-name"),
        pytest.param("spec.serviceAccountName", "scorer", id="service-account"),
        pytest.param("metadata.labels['app']", "web", id="label"),
        pytest.param("metadata.annotations['note']", "n", id="annotation"),
        pytest.param("metadata.labels['nope']", "", id="missing-label-is-empty"),
    ],
)
def test_downward_field(path: str, expected: str) -> None:
    assert downward_field(POD, field_path=path, pod_ip="127.0.1.4", host_ip="127.0.0.1") == expected


def test_unsupported_field_path_is_an_error() -> None:
    with pytest.raises(EnvReferenceError, match=r"status\.phase"):
        downward_field(POD, field_path="status.phase", pod_ip="", host_ip="")


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        pytest.param({"env": [{"name": "A", "value": "1"}]}, {"A": "1"}, id="literal"),
        pytest.param({"env": [field_env("POD_IP", "status.podIP")]}, {"POD_IP": "127.0.1.4"}, id="field-ref"),
        pytest.param(
            {"env": [field_env("IP", "status.podIP"), {"name": "URL", "value": "http://$(IP):80"}]},
            {"IP": "127.0.1.4", "URL": "http://127.0.1.4:80"},
            id="expansion-sees-earlier-entries",
        ),
        pytest.param(
            {"env": [{"name": "URL", "value": "$(LATER)"}, {"name": "LATER", "value": "x"}]},
            {"URL": "$(LATER)", "LATER": "x"},
            id="expansion-does-not-see-later-entries",
        ),
        pytest.param(
            {"env": [{"name": "API", "value": "$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}]},
            {"API": "127.0.0.1:16443"},
            id="service-variables-expand",
        ),
        pytest.param(
            {"env": [{"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}}]},
            {"M": "fast"},
            id="config-map-key",
        ),
        pytest.param(
            {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}]},
            {"P": "s3cret"},
            id="secret-key",
        ),
        pytest.param(
            {
                "env": [
                    {"name": "O", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}}}
                ]
            },
            {},
            id="optional-missing-config-map-skipped",
        ),
        pytest.param(
            {"envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}]},
            {"CFG_MODE": "fast"},
            id="env-from-prefix-and-invalid-key-skipped",
        ),
        pytest.param(
            {"envFrom": [{"configMapRef": {"name": "cfg"}}], "env": [{"name": "MODE", "value": "slow"}]},
            {"MODE": "slow"},
            id="env-overrides-env-from",
        ),
        pytest.param(
            {"envFrom": [{"secretRef": {"name": "absent", "optional": True}}]}, {}, id="optional-missing-env-from"
        ),
        pytest.param(
            {"env": [{"name": "KUBERNETES_SERVICE_PORT", "value": "1"}]},
            {"KUBERNETES_SERVICE_PORT": "1"},
            id="container-overrides-service-variables",
        ),
    ],
)
def test_build_container_env(container: dict[str, Any], expected: dict[str, str]) -> None:
    env = build(container)
    added_or_changed = {key: value for key, value in env.items() if BASE.get(key) != value}
    assert added_or_changed == expected


@pytest.mark.parametrize(
    ("container", "message"),
    [
        pytest.param(
            {"env": [{"name": "M", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]},
            'configmap "absent" not found',
            id="missing-config-map",
        ),
        pytest.param(
            {"env": [{"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}]},
            "couldn't find key nope in ConfigMap ns/cfg",
            id="missing-key",
        ),
        pytest.param(
            {"envFrom": [{"secretRef": {"name": "gone"}}]}, 'secret "gone" not found', id="missing-env-from-secret"
        ),
        pytest.param(
            {"env": [{"name": "R", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]},
            "resourceFieldRef",
            id="unsupported-source",
        ),
    ],
)
def test_unresolvable_reference_is_an_error(container: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvReferenceError, match=message):
        build(container)


def test_referenced_objects_covers_init_and_app_containers() -> None:
    pod = {
        "spec": {
            "initContainers": [{"envFrom": [{"secretRef": {"name": "s1"}}]}],
            "containers": [
                {
                    "envFrom": [{"configMapRef": {"name": "c1"}}],
                    "env": [
                        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c2", "key": "k"}}},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "k"}}},
                        {"name": "C", "value": "v"},
                    ],
                }
            ],
        }
    }
    assert referenced_objects(pod) == ({"c1", "c2"}, {"s1", "s2"})

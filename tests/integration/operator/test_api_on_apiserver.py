"""The generated CRD on the real kube-apiserver: the example is accepted, every invalid example is
refused with a message naming its field, and descriptions reach the published OpenAPI (kubectl explain)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from detection_operator.api.pipeline import GROUP, PLURAL, VERSION
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

#: Each invalid example and the field its refusal must name.
INVALID = {
    "bad-model-uri": "spec.model.uri",
    "bad-offset-reset-policy": "spec.kafka.offsetResetPolicy",
    "bad-sha256": "spec.model.sha256",
    "uppercase-sha256": "spec.model.sha256",
    "bad-topic-name": "spec.kafka.outputTopic",
    "max-below-min": "spec.scaling.minReplicas",
    "missing-input-topic": "spec.kafka.inputTopic",
    "negative-lag-threshold": "spec.scaling.lagThreshold",
    "output-equals-input": "spec.kafka.outputTopic",
    "unknown-field": "spec.kafka.topic",
    "zero-max-replicas": "spec.scaling.maxReplicas",
    "name-too-long": "metadata.name",
    "bad-resource-quantity": "spec.scorer.resources.requests.cpu",
}


def test_every_invalid_example_is_listed() -> None:
    assert {p.stem for p in (EXAMPLES / "invalid").glob("*.yaml")} == set(INVALID)


def test_valid_example_is_accepted_with_defaults(
    kube_api: k8s.ApiClient, crd_installed: None, namespace: str
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    manifest = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text())
    created = cast(dict[str, Any], custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, manifest, field_validation="Strict"
    ))
    # Schema defaults are applied by the apiserver, nested ones included.
    assert created["spec"]["scaling"]["pollingIntervalSeconds"] == 15
    assert created["spec"]["rollout"] == {"strategy": "RollingUpdate"}
    assert created["spec"]["paused"] is False


@pytest.mark.parametrize("example", sorted(INVALID), ids=sorted(INVALID))
def test_invalid_example_is_refused_naming_the_field(
    kube_api: k8s.ApiClient, crd_installed: None, namespace: str, example: str
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    manifest = yaml.safe_load((EXAMPLES / "invalid" / f"{example}.yaml").read_text())
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest, field_validation="Strict")
    assert refused.value.status in (400, 422)
    message = json.loads(refused.value.body or "{}")["message"]
    assert INVALID[example] in message, message


def test_descriptions_are_published_for_kubectl_explain(kube_api: k8s.ApiClient, crd_installed: None) -> None:
    response = kube_api.call_api("GET", f"{kube_api.configuration.host}/openapi/v3/apis/{GROUP}/{VERSION}",
                                 header_params={"Accept": "application/json"})
    document = json.loads(response.read())
    schemas = document["components"]["schemas"]
    (key,) = [k for k in schemas if k.endswith(".DetectionPipeline")]
    scaling = schemas[key]["properties"]["spec"]["properties"]["scaling"]
    assert "minReplicas" in scaling["properties"]
    assert scaling["properties"]["minReplicas"]["description"].startswith("Fewest scorer replicas")

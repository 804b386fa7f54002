"""The DetectionPipeline models refuse what the CRD's CEL rules refuse, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from detection_operator.api.pipeline import DetectionPipelineSpec, OffsetResetPolicy
from pydantic import ValidationError

SHA = "a" * 64


def valid_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "kafka": {"bootstrapServers": "kafka:9092", "inputTopic": "mail.inbound", "outputTopic": "mail.scores"},
        "model": {"name": "phishing-linear", "version": "2026.11.1", "uri": "http://models/m.onnx", "sha256": SHA},
    }
    for path, value in overrides.items():
        node = spec
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return spec


def test_defaults_fill_a_minimal_spec() -> None:
    spec = DetectionPipelineSpec.model_validate(valid_spec())
    assert spec.kafka.offset_reset_policy is OffsetResetPolicy.LATEST
    assert spec.scaling.min_replicas == 1
    assert spec.scorer.batch_max_messages == 500
    assert spec.paused is False


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        pytest.param({"scaling.minReplicas": 5, "scaling.maxReplicas": 2}, "minReplicas", id="min-above-max"),
        pytest.param({"model.sha256": "abc"}, "sha256", id="short-sha256"),
        pytest.param({"model.sha256": "G" * 64}, "sha256", id="non-hex-sha256"),
        pytest.param({"scaling.lagThreshold": -1}, "lagThreshold", id="negative-lag-threshold"),
        pytest.param({"kafka.inputTopic": "mail inbound"}, "inputTopic", id="topic-with-space"),
        pytest.param({"kafka.outputTopic": ".."}, "outputTopic", id="topic-dotdot"),
        pytest.param({"kafka.outputTopic": "mail.inbound"}, "outputTopic", id="output-equals-input"),
        pytest.param({"model.uri": "s3://bucket/m.onnx"}, "uri", id="unsupported-uri-scheme"),
        pytest.param({"kafka.colour": "blue"}, "colour", id="unknown-field"),
        pytest.param({"scorer.resources": {"requests": {"cpu": "lots"}}}, "cpu", id="bad-quantity"),
        pytest.param({"kafka.offsetResetPolicy": "oldest"}, "offsetResetPolicy", id="bad-enum"),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        DetectionPipelineSpec.model_validate(valid_spec(**overrides))
    assert words in str(refused.value)


def test_missing_input_topic_is_refused() -> None:
    spec = valid_spec()
    del spec["kafka"]["inputTopic"]
    with pytest.raises(ValidationError, match="inputTopic"):
        DetectionPipelineSpec.model_validate(spec)


def test_snake_and_camel_names_are_the_same_field() -> None:
    by_alias = DetectionPipelineSpec.model_validate(valid_spec(**{"scaling.minReplicas": 0}))
    assert by_alias.scaling.min_replicas == 0
    assert by_alias.model_dump(mode="json")["scaling"]["minReplicas"] == 0

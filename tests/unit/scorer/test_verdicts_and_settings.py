"""Verdict thresholds and settings parsed from the SCORER_* environment (the operator contract)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scorer.events import Verdict
from scorer.settings import LogFormat, OffsetResetPolicy, ScorerSettings, VerdictThresholds
from scorer.verdicts import verdict_for, verdicts_for

DEFAULT = VerdictThresholds()


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        pytest.param(0.0, Verdict.CLEAN, id="zero-clean"),
        pytest.param(0.4999, Verdict.CLEAN, id="below-suspicious"),
        pytest.param(0.5, Verdict.SUSPICIOUS, id="at-suspicious"),
        pytest.param(0.8499, Verdict.SUSPICIOUS, id="below-malicious"),
        pytest.param(0.85, Verdict.MALICIOUS, id="at-malicious"),
        pytest.param(1.0, Verdict.MALICIOUS, id="one-malicious"),
    ],
)
def test_verdict_for(score: float, expected: Verdict) -> None:
    assert verdict_for(score, DEFAULT) is expected
    assert verdicts_for(np.asarray([score]), DEFAULT) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("suspicious=0.5,malicious=0.85", VerdictThresholds(suspicious=0.5, malicious=0.85), id="both"),
        pytest.param("malicious=0.9", VerdictThresholds(suspicious=0.5, malicious=0.9), id="one-key-other-default"),
        pytest.param(
            " suspicious = 0.3 , malicious=0.7 ", VerdictThresholds(suspicious=0.3, malicious=0.7), id="spaces"
        ),
        pytest.param("", VerdictThresholds(), id="empty-defaults"),
    ],
)
def test_thresholds_parse(text: str, expected: VerdictThresholds) -> None:
    assert VerdictThresholds.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("dangerous=0.5", "SCORER_VERDICT_THRESHOLDS", id="unknown-key"),
        pytest.param("suspicious=high", "not a number", id="not-a-number"),
        pytest.param("suspicious=0.9,malicious=0.5", "must not exceed", id="out-of-order"),
        pytest.param("malicious=1.5", "less than or equal", id="above-one"),
    ],
)
def test_thresholds_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VerdictThresholds.parse(text)


def test_settings_from_contract_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "SCORER_BOOTSTRAP_SERVERS": "kafka:9092",
        "SCORER_INPUT_TOPIC": "mail.inbound",
        "SCORER_OUTPUT_TOPIC": "mail.scores",
        "SCORER_DEAD_LETTER_TOPIC": "mail.scores.dead",
        "SCORER_CONSUMER_GROUP": "scorefleet.mail.pipeline",
        "SCORER_OFFSET_RESET_POLICY": "earliest",
        "SCORER_MODEL_NAME": "phishing-linear",
        "SCORER_MODEL_VERSION": "2026.11.1",
        "SCORER_MODEL_URI": "http://models/phishing.onnx",
        "SCORER_MODEL_SHA256": "AB" * 32,
        "SCORER_MODEL_CACHE_DIR": str(tmp_path),
        "SCORER_BATCH_MAX_MESSAGES": "250",
        "SCORER_BATCH_MAX_WAIT_MS": "15",
        "SCORER_HTTP_HOST": "127.0.1.7",
        "SCORER_HTTP_PORT": "9200",
        "SCORER_KAFKA_CREDENTIALS_DIR": str(tmp_path),
        "SCORER_PER_RECORD_DELAY_MS": "3",
        "SCORER_LOG_FORMAT": "text",
        "SCORER_VERDICT_THRESHOLDS": "suspicious=0.4,malicious=0.8",
        "POD_NAME": "scorer-abc",
        "POD_NAMESPACE": "mail",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = ScorerSettings()
    assert settings.bootstrap_servers == "kafka:9092"
    assert settings.dead_letter_topic_name == "mail.scores.dead"
    assert settings.offset_reset_policy is OffsetResetPolicy.EARLIEST
    assert settings.model_sha256 == "ab" * 32
    assert settings.model_cache_dir == tmp_path
    assert (settings.batch_max_messages, settings.batch_max_wait_ms) == (250, 15)
    assert (settings.http_host, settings.http_port) == ("127.0.1.7", 9200)
    assert settings.kafka_credentials_dir == tmp_path
    assert settings.per_record_delay_ms == 3
    assert settings.log_format is LogFormat.TEXT
    assert settings.verdict_thresholds == VerdictThresholds(suspicious=0.4, malicious=0.8)
    assert (settings.pod_name, settings.pod_namespace) == ("scorer-abc", "mail")
    assert settings.missing_for_serving() == []


def test_settings_defaults_are_production_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SCORER_DEAD_LETTER_TOPIC", "SCORER_OUTPUT_TOPIC", "SCORER_HTTP_HOST", "SCORER_HTTP_PORT"):
        monkeypatch.delenv(key, raising=False)
    settings = ScorerSettings()
    assert settings.dead_letter_topic_name == "mail.scores.dlq"
    assert settings.offset_reset_policy is OffsetResetPolicy.LATEST
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 9102)
    assert settings.model_cache_dir == Path("/var/cache/scorefleet/models")
    assert settings.log_format is LogFormat.JSON
    assert settings.missing_for_serving() == [
        "SCORER_MODEL_NAME",
        "SCORER_MODEL_VERSION",
        "SCORER_MODEL_URI",
        "SCORER_MODEL_SHA256",
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param("SCORER_MODEL_SHA256", "abc", "64 hexadecimal", id="short-sha256"),
        pytest.param("SCORER_OFFSET_RESET_POLICY", "middle", "latest", id="bad-reset-policy"),
        pytest.param("SCORER_BATCH_MAX_MESSAGES", "0", "greater than or equal", id="zero-batch"),
        pytest.param("SCORER_VERDICT_THRESHOLDS", "suspicious=2", "less than or equal", id="threshold-above-one"),
    ],
)
def test_settings_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        ScorerSettings()

"""Operator settings from the environment, and how they map onto kopf's settings."""

from __future__ import annotations

import pytest
from detection_operator.main import kopf_settings
from detection_operator.settings import LogFormat, OperatorSettings, namespace_selected


def test_defaults_are_production_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("SCOREFLEET_OPERATOR_"):
            monkeypatch.delenv(name)
    settings = OperatorSettings()
    assert settings.clusterwide and settings.exact_namespaces is None
    assert settings.observability.log_format is LogFormat.JSON
    assert "scorefleet-scorer" in settings.scorer.image


def test_environment_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOREFLEET_OPERATOR_NAMESPACES", "team-a team-b")
    monkeypatch.setenv("SCOREFLEET_OPERATOR_WATCH__SERVER_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("SCOREFLEET_OPERATOR_OBSERVABILITY__LOG_FORMAT", "text")
    monkeypatch.setenv("SCOREFLEET_OPERATOR_PEERING__PRIORITY", "7")
    settings = OperatorSettings()
    assert settings.namespaces == ["team-a", "team-b"] and settings.exact_namespaces == ["team-a", "team-b"]
    assert not settings.clusterwide
    assert settings.observability.log_format is LogFormat.TEXT
    kopf = kopf_settings(settings)
    assert kopf.watching.server_timeout == 30
    assert kopf.watching.client_timeout is not None and kopf.watching.client_timeout > 30, (
        "a silent stream must be abandoned after the server would have closed it"
    )
    assert kopf.peering.priority == 7 and kopf.peering.name == "scorefleet"


def test_random_priority_per_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCOREFLEET_OPERATOR_PEERING__PRIORITY", raising=False)
    priorities = {kopf_settings(OperatorSettings()).peering.priority for _ in range(5)}
    assert len(priorities) > 1, "equal priorities make kopf pause every replica"


@pytest.mark.parametrize(
    ("name", "patterns", "selected"),
    [
        pytest.param("anything", [], True, id="empty-means-all"),
        pytest.param("team-a", ["team-a", "team-b"], True, id="exact-name"),
        pytest.param("team-c", ["team-a", "team-b"], False, id="other-name"),
        pytest.param("opit-123", ["*,!opit-*"], False, id="excluded-glob"),
        pytest.param("prod", ["*,!opit-*"], True, id="included-by-star"),
        pytest.param("opit-1", ["!opit-*"], False, id="leading-exclusion-implies-star"),
    ],
)
def test_namespace_patterns_follow_kopf(name: str, patterns: list[str], selected: bool) -> None:
    assert namespace_selected(name, patterns) is selected

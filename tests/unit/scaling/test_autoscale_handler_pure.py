"""The autoscale handler's pure pieces: seeding loop state from status, and its settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from detection_operator.handlers.autoscale import AutoscaleSettings, LoopState


@pytest.mark.parametrize(
    ("status", "types", "last_scale_time", "last_scale_reason"),
    [
        pytest.param({}, [], None, None, id="no-status-yet"),
        pytest.param(
            {"conditions": [
                {"type": "Ready", "status": "True", "reason": "Available",
                 "lastTransitionTime": "2026-11-29T12:00:00Z"},
                {"type": "LagSourceHealthy", "status": "False", "reason": "SourceError",
                 "lastTransitionTime": "2026-11-29T12:00:00Z"},
                {"type": "ScalingLimited", "status": "oops"},
            ], "lastScaleTime": "2026-11-29T11:59:00Z", "lastScaleReason": "scaled 1 → 6: lag 6,000"},
            ["LagSourceHealthy"], datetime(2026, 11, 29, 11, 59, tzinfo=UTC), "scaled 1 → 6: lag 6,000",
            id="keeps-own-valid-conditions-and-last-scale",
        ),
    ],
)
def test_loop_state_from_status(status: dict[str, Any], types: list[str], last_scale_time: datetime | None,
                                last_scale_reason: str | None) -> None:
    state = LoopState.from_status(status)
    assert [c.type for c in state.conditions] == types
    assert state.last_scale_time == last_scale_time
    assert state.last_scale_reason == last_scale_reason


@pytest.mark.parametrize(
    ("env", "url"),
    [
        pytest.param({}, None, id="unset-means-kafka-admin-only"),
        pytest.param({"PROMETHEUS_URL": "http://127.0.0.1:19090"}, "http://127.0.0.1:19090", id="devstack-env"),
        pytest.param({"PROMETHEUS_URL": "http://a", "SCOREFLEET_OPERATOR_AUTOSCALE__PROMETHEUS_URL": "http://b"},
                     "http://b", id="operator-setting-wins"),
    ],
)
def test_prometheus_url_from_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str | None) -> None:
    for name in ("PROMETHEUS_URL", "SCOREFLEET_OPERATOR_AUTOSCALE__PROMETHEUS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert AutoscaleSettings().prometheus_url == url

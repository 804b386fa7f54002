"""The autoscaler never logs credentials embedded in its Prometheus URL."""

from __future__ import annotations

import pytest
from detection_operator.handlers.autoscale import _without_userinfo


@pytest.mark.parametrize(("url", "logged"), [
    pytest.param("http://user:secret@prometheus:9090/prom", "http://prometheus:9090/prom", id="user-and-password"),
    pytest.param("https://token@prometheus.monitoring", "https://prometheus.monitoring", id="user-only"),
    pytest.param("http://prometheus:9090", "http://prometheus:9090", id="no-userinfo"),
    pytest.param(None, None, id="not-configured"),
])
def test_userinfo_is_stripped(url: str | None, logged: str | None) -> None:
    assert _without_userinfo(url) == logged

"""Unit tests: probe parsing (named ports, defaults) and threshold bookkeeping of the node agent."""

from __future__ import annotations

from typing import Any

import pytest
from scorefleet_devstack.node_agent.probes import ProbeKind, ProbeSpec, ProbeTracker, parse_probe

CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        pytest.param(
            {"httpGet": {"path": "/readyz", "port": "http"}},
            ProbeSpec(ProbeKind.HTTP_GET, host="127.0.1.3", port=8080, path="/readyz"),
            id="http-named-port-defaults",
        ),
        pytest.param(
            {"httpGet": {"port": 9102, "host": "127.0.0.9"}, "periodSeconds": 2, "failureThreshold": 1},
            ProbeSpec(ProbeKind.HTTP_GET, host="127.0.0.9", port=9102, period_seconds=2, failure_threshold=1),
            id="http-explicit-host-and-timing",
        ),
        pytest.param(
            {"tcpSocket": {"port": "8080"}, "initialDelaySeconds": 5},
            ProbeSpec(ProbeKind.TCP_SOCKET, host="127.0.1.3", port=8080, initial_delay_seconds=5),
            id="tcp-numeric-string-port",
        ),
        pytest.param(
            {"exec": {"command": ["cat", "/tmp/ok"]}, "timeoutSeconds": 3},
            ProbeSpec(ProbeKind.EXEC, command=("cat", "/tmp/ok"), timeout_seconds=3),
            id="exec",
        ),
    ],
)
def test_parse_probe(probe: dict[str, Any], expected: ProbeSpec) -> None:
    assert parse_probe(probe, container=CONTAINER, pod_ip="127.0.1.3") == expected


@pytest.mark.parametrize(
    "probe",
    [
        pytest.param({"httpGet": {"port": "metrics"}}, id="undeclared-named-port"),
        pytest.param({"periodSeconds": 3}, id="no-handler"),
    ],
)
def test_parse_probe_errors(probe: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_probe(probe, container=CONTAINER, pod_ip="127.0.1.3")


SPEC = ProbeSpec(
    ProbeKind.TCP_SOCKET, initial_delay_seconds=5, period_seconds=10, success_threshold=2, failure_threshold=3
)


@pytest.mark.parametrize(
    ("initial", "outcomes", "expected"),
    [
        pytest.param(False, [], False, id="readiness-starts-unready"),
        pytest.param(True, [], True, id="liveness-starts-healthy"),
        pytest.param(False, [True], False, id="one-success-below-threshold"),
        pytest.param(False, [True, True], True, id="success-threshold-reached"),
        pytest.param(False, [True, False, True], False, id="successes-must-be-consecutive"),
        pytest.param(True, [False, False], True, id="failures-below-threshold"),
        pytest.param(True, [False, False, False], False, id="failure-threshold-reached"),
        pytest.param(True, [False, False, True, False, False], True, id="failures-must-be-consecutive"),
    ],
)
def test_tracker_thresholds(initial: bool, outcomes: list[bool], expected: bool) -> None:
    tracker = ProbeTracker(SPEC, started_monotonic=100.0, initial=initial)
    for number, outcome in enumerate(outcomes):
        tracker.record(outcome, now_monotonic=105.0 + 10 * number)
    assert tracker.result is expected


def test_tracker_schedule_honours_initial_delay_and_period() -> None:
    tracker = ProbeTracker(SPEC, started_monotonic=100.0, initial=False)
    assert not tracker.due(104.9)
    assert tracker.due(105.0)
    tracker.record(True, now_monotonic=105.0)
    assert not tracker.due(114.9)
    assert tracker.due(115.0)

"""Unit tests: pod phase, container statuses, conditions and restart rules of the node agent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scorefleet_devstack.node_agent.status import (
    BACKOFF_CAP_SECONDS,
    ContainerView,
    PodPhase,
    PodView,
    RestartPolicy,
    Running,
    Terminated,
    TerminatedReason,
    Waiting,
    WaitingReason,
    container_status,
    exit_code_from_returncode,
    pod_phase,
    pod_status,
    restart_backoff_seconds,
    should_restart,
    terminated_from_status,
)

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)
RUNNING = Running(T0)
CREATING = Waiting(WaitingReason.CONTAINER_CREATING)
OK_EXIT = Terminated(0, TerminatedReason.COMPLETED, finished_at=T1, started_at=T0)
FAILED_EXIT = Terminated(1, TerminatedReason.ERROR, finished_at=T1, started_at=T0, message="boom")
BACKING_OFF = Waiting(WaitingReason.CRASH_LOOP_BACK_OFF, "back-off 1s")


def container(state: object, *, ready: bool = False, last: Terminated | None = None, name: str = "c") -> ContainerView:
    return ContainerView(name=name, image="img", state=state, ready=ready, last_terminated=last)  # type: ignore[arg-type]


def pod(
    *containers: ContainerView,
    policy: RestartPolicy = RestartPolicy.ALWAYS,
    initialized: bool = True,
    init: tuple[ContainerView, ...] = (),
) -> PodView:
    return PodView(
        restart_policy=policy,
        init_containers=init,
        containers=containers,
        initialized=initialized,
        pod_ip="127.0.1.2",
        host_ip="127.0.0.1",
        start_time=T0,
    )


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        pytest.param(pod(container(CREATING)), PodPhase.PENDING, id="never-started-is-pending"),
        pytest.param(pod(container(RUNNING)), PodPhase.RUNNING, id="running"),
        pytest.param(
            pod(container(RUNNING), container(CREATING, name="d")), PodPhase.PENDING, id="one-not-yet-started"
        ),
        pytest.param(pod(container(BACKING_OFF, last=FAILED_EXIT)), PodPhase.RUNNING, id="crash-loop-is-running"),
        pytest.param(pod(container(OK_EXIT), policy=RestartPolicy.NEVER), PodPhase.SUCCEEDED, id="never-all-ok"),
        pytest.param(pod(container(FAILED_EXIT), policy=RestartPolicy.NEVER), PodPhase.FAILED, id="never-one-failed"),
        pytest.param(
            pod(container(OK_EXIT), container(RUNNING, name="d"), policy=RestartPolicy.NEVER),
            PodPhase.RUNNING,
            id="never-one-still-running",
        ),
        pytest.param(pod(container(OK_EXIT), policy=RestartPolicy.ON_FAILURE), PodPhase.SUCCEEDED, id="onfailure-ok"),
        pytest.param(
            pod(container(BACKING_OFF, last=FAILED_EXIT), policy=RestartPolicy.ON_FAILURE),
            PodPhase.RUNNING,
            id="onfailure-restarting",
        ),
        pytest.param(
            pod(container(Waiting(WaitingReason.POD_INITIALIZING)), initialized=False, init=(container(RUNNING),)),
            PodPhase.PENDING,
            id="initializing",
        ),
        pytest.param(
            pod(container(CREATING), initialized=False, init=(container(FAILED_EXIT),), policy=RestartPolicy.NEVER),
            PodPhase.FAILED,
            id="init-failed-never",
        ),
        pytest.param(
            pod(container(CREATING), initialized=False, init=(container(FAILED_EXIT),)),
            PodPhase.PENDING,
            id="init-failed-always-retries",
        ),
    ],
)
def test_pod_phase(view: PodView, expected: PodPhase) -> None:
    assert pod_phase(view) is expected


@pytest.mark.parametrize(
    ("policy", "exit_code", "expected"),
    [
        pytest.param(RestartPolicy.ALWAYS, 0, True, id="always-ok"),
        pytest.param(RestartPolicy.ALWAYS, 1, True, id="always-failed"),
        pytest.param(RestartPolicy.ON_FAILURE, 0, False, id="onfailure-ok"),
        pytest.param(RestartPolicy.ON_FAILURE, 137, True, id="onfailure-killed"),
        pytest.param(RestartPolicy.NEVER, 1, False, id="never-failed"),
    ],
)
def test_should_restart(policy: RestartPolicy, exit_code: int, expected: bool) -> None:
    assert should_restart(policy, exit_code=exit_code) is expected


@pytest.mark.parametrize(
    ("crashes", "expected_seconds"),
    [
        pytest.param(0, 0.0, id="no-crash"),
        pytest.param(1, 1.0, id="first"),
        pytest.param(2, 2.0, id="second-doubles"),
        pytest.param(5, 16.0, id="fifth-reaches-cap"),
        pytest.param(30, BACKOFF_CAP_SECONDS, id="capped"),
    ],
)
def test_restart_backoff_seconds(crashes: int, expected_seconds: float) -> None:
    assert restart_backoff_seconds(crashes) == expected_seconds


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [
        pytest.param(0, 0, id="ok"),
        pytest.param(3, 3, id="exit-code"),
        pytest.param(-9, 137, id="sigkill"),
        pytest.param(-15, 143, id="sigterm"),
    ],
)
def test_exit_code_from_returncode(returncode: int, expected: int) -> None:
    assert exit_code_from_returncode(returncode) == expected


@pytest.mark.parametrize(
    ("view", "expected_state", "expected_last"),
    [
        pytest.param(container(RUNNING), {"running": {"startedAt": "2026-11-29T12:00:00Z"}}, {}, id="running"),
        pytest.param(
            container(Waiting(WaitingReason.RUN_CONTAINER_ERROR, 'exec: "/nope": no such file')),
            {"waiting": {"reason": "RunContainerError", "message": 'exec: "/nope": no such file'}},
            {},
            id="waiting-with-message",
        ),
        pytest.param(
            container(BACKING_OFF, last=FAILED_EXIT),
            {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1s"}},
            {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "message": "boom",
                    "startedAt": "2026-11-29T12:00:00Z",
                    "finishedAt": "2026-11-29T12:00:05Z",
                }
            },
            id="crash-loop-with-termination-message",
        ),
    ],
)
def test_container_status(
    view: ContainerView, expected_state: dict[str, object], expected_last: dict[str, object]
) -> None:
    status = container_status(view)
    assert status["state"] == expected_state
    assert status["lastState"] == expected_last


@pytest.mark.parametrize(
    ("view", "ready"),
    [
        pytest.param(pod(container(RUNNING, ready=True)), "True", id="all-ready"),
        pytest.param(pod(container(RUNNING, ready=True), container(RUNNING, name="d")), "False", id="one-unready"),
        pytest.param(pod(container(CREATING)), "False", id="not-started"),
    ],
)
def test_pod_status_conditions_and_ips(view: PodView, ready: str) -> None:
    status = pod_status(view, previous_conditions=[], now=T1)
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": ready, "Ready": ready}
    assert (status["podIP"], status["podIPs"], status["hostIP"]) == ("127.0.1.2", [{"ip": "127.0.1.2"}], "127.0.0.1")


def test_transition_time_kept_while_status_unchanged_and_stamped_on_change() -> None:
    ready_view = pod(container(RUNNING, ready=True))
    first = pod_status(ready_view, previous_conditions=[], now=T0)
    later = datetime(2026, 11, 29, 13, 0, 0, tzinfo=UTC)
    same = pod_status(ready_view, previous_conditions=first["conditions"], now=later)
    assert same == first
    flipped = pod_status(pod(container(RUNNING)), previous_conditions=first["conditions"], now=later)
    ready = next(c for c in flipped["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "2026-11-29T13:00:00Z"
    assert ready["reason"] == "ContainersNotReady"


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        pytest.param(
            {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": "2026-11-29T12:00:00Z",
                "finishedAt": "2026-11-29T12:00:05Z",
            },
            Terminated(0, TerminatedReason.COMPLETED, finished_at=T1, started_at=T0),
            id="completed",
        ),
        pytest.param(
            {"exitCode": 1, "reason": "OOMKilled", "finishedAt": "2026-11-29T12:00:05Z", "message": "m"},
            Terminated(1, TerminatedReason.ERROR, finished_at=T1, message="m"),
            id="unknown-reason-by-exit-code",
        ),
        pytest.param(
            {"exitCode": 128, "reason": "StartError", "finishedAt": "2026-11-29T12:00:05.123456Z"},
            Terminated(128, TerminatedReason.START_ERROR, finished_at=T1.replace(microsecond=123456)),
            id="start-error-fractional-seconds",
        ),
    ],
)
def test_terminated_from_status(reported: dict[str, object], expected: Terminated) -> None:
    assert terminated_from_status(reported) == expected

"""Pure: Pod status from the agent's view of its containers, as kubelet computes it.

The pod worker keeps one ``ContainerView`` per container (state from process lifecycle and
probes); this module turns those into the ``status`` object the agent writes (phase, conditions,
containerStatuses) and holds the restart rules (restartPolicy, crash-loop backoff). The phase
rules follow kubelet's ``getPhase`` (pkg/kubelet/kubelet_pods.go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

#: Crash-loop backoff: first restart after this many seconds, doubling per consecutive crash.
BACKOFF_INITIAL_SECONDS = 1.0
#: Cap of the crash-loop backoff. Kubelet caps at 300 s; a dev stack wants fast feedback.
BACKOFF_CAP_SECONDS = 16.0
#: A run at least this long resets the backoff (kubelet: 2 x its cap; ours is shorter).
BACKOFF_RESET_AFTER_SECONDS = 60.0


class PodPhase(StrEnum):
    """``status.phase`` values."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class RestartPolicy(StrEnum):
    """``spec.restartPolicy`` values."""

    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"


class WaitingReason(StrEnum):
    """``state.waiting.reason`` values, as kubelet uses them."""

    CONTAINER_CREATING = "ContainerCreating"
    POD_INITIALIZING = "PodInitializing"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    RUN_CONTAINER_ERROR = "RunContainerError"
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"


class TerminatedReason(StrEnum):
    """``state.terminated.reason`` values."""

    COMPLETED = "Completed"
    ERROR = "Error"
    START_ERROR = "StartError"
    CONTAINER_STATUS_UNKNOWN = "ContainerStatusUnknown"


@dataclass(frozen=True)
class Waiting:
    """Not running: why (``reason``) and a human ``message``."""

    reason: WaitingReason
    message: str = ""


@dataclass(frozen=True)
class Running:
    """Running since ``started_at`` (UTC)."""

    started_at: datetime


@dataclass(frozen=True)
class Terminated:
    """Exited with ``exit_code`` (128+signal when killed by a signal)."""

    exit_code: int
    reason: TerminatedReason
    finished_at: datetime
    started_at: datetime | None = None
    message: str = ""


ContainerState = Waiting | Running | Terminated


@dataclass(frozen=True)
class ContainerView:
    """What the agent knows about one container at one instant."""

    name: str
    image: str
    state: ContainerState
    last_terminated: Terminated | None = None
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str = ""


@dataclass(frozen=True)
class PodView:
    """Everything ``pod_status`` needs about one pod, besides the clock and previous conditions.

    ``init_containers`` and ``containers`` are in spec order; ``initialized`` is True once every
    init container has completed successfully.
    """

    restart_policy: RestartPolicy
    init_containers: Sequence[ContainerView]
    containers: Sequence[ContainerView]
    initialized: bool
    pod_ip: str
    host_ip: str
    start_time: datetime


def rfc3339(moment: datetime) -> str:
    """``moment`` as the API's RFC 3339 seconds form, e.g. ``2026-11-29T14:47:48Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """An API timestamp (``2026-11-29T14:47:48Z``, fractional seconds allowed) as UTC, or None."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def terminated_from_status(terminated: Mapping[str, Any]) -> Terminated:
    """A ``Terminated`` from a reported ``state.terminated`` object (e.g. after an agent restart).

    An unknown reason becomes ``Error``/``Completed`` by exit code; a missing finish time, the epoch.
    """
    exit_code = int(terminated.get("exitCode", 0))
    reason_text = terminated.get("reason", "")
    reason = (
        TerminatedReason(reason_text)
        if reason_text in TerminatedReason.__members__.values()
        else terminated_reason(exit_code)
    )
    return Terminated(
        exit_code,
        reason,
        finished_at=parse_time(terminated.get("finishedAt")) or datetime.fromtimestamp(0, UTC),
        started_at=parse_time(terminated.get("startedAt")),
        message=terminated.get("message", ""),
    )


def exit_code_from_returncode(returncode: int) -> int:
    """A ``Popen.returncode`` as a container exit code: -N (killed by signal N) -> 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def terminated_reason(exit_code: int) -> TerminatedReason:
    """``Completed`` for exit code 0, ``Error`` otherwise (kubelet has no finer reason here)."""
    return TerminatedReason.COMPLETED if exit_code == 0 else TerminatedReason.ERROR


def should_restart(restart_policy: RestartPolicy, *, exit_code: int) -> bool:
    """Whether a container that exited with ``exit_code`` is started again (spec.restartPolicy)."""
    if restart_policy is RestartPolicy.ALWAYS:
        return True
    return restart_policy is RestartPolicy.ON_FAILURE and exit_code != 0


def restart_backoff_seconds(consecutive_crashes: int) -> float:
    """Delay before restarting after ``consecutive_crashes`` (>= 1) crashes in a row, in seconds.

    1, 2, 4, 8, 16, 16, ... : kubelet's doubling backoff with the dev-stack cap
    ``BACKOFF_CAP_SECONDS`` instead of kubelet's 300 s. Zero crashes -> 0.
    """
    if consecutive_crashes <= 0:
        return 0.0
    return min(BACKOFF_CAP_SECONDS, BACKOFF_INITIAL_SECONDS * 2 ** (consecutive_crashes - 1))


def pod_phase(view: PodView) -> PodPhase:
    """The pod's phase per kubelet's ``getPhase``.

    A waiting container that never ran keeps the pod Pending; one waiting to be restarted counts
    as stopped. With restartPolicy Always a pod whose containers all stopped is still Running.
    """
    if not view.initialized:
        failed_init = any(isinstance(c.state, Terminated) and c.state.exit_code != 0 for c in view.init_containers)
        if failed_init and view.restart_policy is RestartPolicy.NEVER:
            return PodPhase.FAILED
        return PodPhase.PENDING
    running = stopped = succeeded = waiting = 0
    for container in view.containers:
        state = container.state
        if isinstance(state, Running):
            running += 1
        elif isinstance(state, Terminated):
            stopped += 1
            succeeded += state.exit_code == 0
        elif container.last_terminated is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return PodPhase.PENDING
    if running:
        return PodPhase.RUNNING
    if not stopped:
        return PodPhase.PENDING
    if view.restart_policy is RestartPolicy.ALWAYS:
        return PodPhase.RUNNING
    if stopped == succeeded:
        return PodPhase.SUCCEEDED
    if view.restart_policy is RestartPolicy.NEVER:
        return PodPhase.FAILED
    return PodPhase.RUNNING


def _terminated_dict(state: Terminated) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exitCode": state.exit_code,
        "reason": str(state.reason),
        "finishedAt": rfc3339(state.finished_at),
        "startedAt": rfc3339(state.started_at or state.finished_at),
    }
    if state.message:
        out["message"] = state.message
    return out


def _state_dict(state: ContainerState) -> dict[str, Any]:
    if isinstance(state, Running):
        return {"running": {"startedAt": rfc3339(state.started_at)}}
    if isinstance(state, Terminated):
        return {"terminated": _terminated_dict(state)}
    waiting: dict[str, Any] = {"reason": str(state.reason)}
    if state.message:
        waiting["message"] = state.message
    return {"waiting": waiting}


def container_status(view: ContainerView) -> dict[str, Any]:
    """One ``containerStatuses[]`` entry for ``view``."""
    out: dict[str, Any] = {
        "name": view.name,
        "image": view.image,
        "imageID": "",
        "state": _state_dict(view.state),
        "lastState": {"terminated": _terminated_dict(view.last_terminated)} if view.last_terminated else {},
        "ready": view.ready,
        "started": view.started,
        "restartCount": view.restart_count,
    }
    if view.container_id:
        out["containerID"] = view.container_id
    return out


def _condition(
    condition_type: str, *, status: bool, previous: Mapping[str, Mapping[str, Any]], now: datetime, reason: str
) -> dict[str, Any]:
    value = "True" if status else "False"
    before = previous.get(condition_type)
    transition = before.get("lastTransitionTime") if before and before.get("status") == value else None
    out: dict[str, Any] = {
        "type": condition_type,
        "status": value,
        "lastProbeTime": None,
        "lastTransitionTime": transition or rfc3339(now),
    }
    if not status and reason:
        out["reason"] = reason
    return out


def pod_status(view: PodView, *, previous_conditions: Sequence[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """The full pod ``status`` object for ``view``.

    ``previous_conditions`` (the pod's current ``status.conditions``) keep each condition's
    ``lastTransitionTime`` when its status does not change; ``now`` stamps the ones that do.
    """
    previous = {c.get("type", ""): c for c in previous_conditions}
    phase = pod_phase(view)
    containers_ready = bool(view.containers) and all(c.ready for c in view.containers)
    not_ready_reason = "PodCompleted" if phase in (PodPhase.SUCCEEDED, PodPhase.FAILED) else "ContainersNotReady"
    conditions = [
        _condition("PodScheduled", status=True, previous=previous, now=now, reason=""),
        _condition(
            "Initialized", status=view.initialized, previous=previous, now=now, reason="ContainersNotInitialized"
        ),
        _condition("ContainersReady", status=containers_ready, previous=previous, now=now, reason=not_ready_reason),
        _condition("Ready", status=containers_ready, previous=previous, now=now, reason=not_ready_reason),
    ]
    status: dict[str, Any] = {
        "phase": str(phase),
        "conditions": conditions,
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "podIP": view.pod_ip,
        "podIPs": [{"ip": view.pod_ip}],
        "startTime": rfc3339(view.start_time),
        "containerStatuses": [container_status(c) for c in view.containers],
    }
    if view.init_containers:
        status["initContainerStatuses"] = [container_status(c) for c in view.init_containers]
    return status

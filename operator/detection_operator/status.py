"""Pure status computation: observed children -> the reconcile's part of a pipeline's status.

Layer: pure core. The reconcile reads the Deployment and the scorer pods (adapters), turns them
into the small frozen views below (`observe_deployment`, `observe_pod`), and `compute_status`
returns phase, replica counts, serving model and the Ready/Progressing/Degraded conditions.
Rollout completeness follows `kubectl rollout status` (deployment_util.go): the controller has
seen the latest generation and every replica is updated and available.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from detection_operator.api.conditions import (
    Condition,
    ConditionStatus,
    ConditionType,
    Reason,
    find_condition,
    set_condition,
)
from detection_operator.api.pipeline import ModelStatus, PipelinePhase
from detection_operator.render import ANNOTATION_MODEL_NAME, ANNOTATION_MODEL_SHA256, ANNOTATION_MODEL_VERSION

#: Longest condition message we write (the schema allows more; status should stay readable).
MAX_MESSAGE_LENGTH = 1024

#: Waiting reasons (kubelet's) that mean the pod cannot run as specified, mapped to our reason.
_WAITING_REASONS: dict[str, Reason] = {
    "ImagePullBackOff": Reason.IMAGE_PULL_BACK_OFF,
    "ErrImagePull": Reason.IMAGE_PULL_BACK_OFF,
    "InvalidImageName": Reason.IMAGE_PULL_BACK_OFF,
    "CrashLoopBackOff": Reason.CRASH_LOOP_BACK_OFF,
    "CreateContainerConfigError": Reason.CONTAINER_CONFIG_ERROR,
    "CreateContainerError": Reason.CONTAINER_CONFIG_ERROR,
    # The runtime created the container but could not start its process (bad command, missing binary).
    "RunContainerError": Reason.CONTAINER_CONFIG_ERROR,
}
#: When several pods are unhealthy, the most specific reason wins (lower = reported first).
_REASON_PRIORITY = (
    Reason.MODEL_DIGEST_MISMATCH,
    Reason.IMAGE_PULL_BACK_OFF,
    Reason.CONTAINER_CONFIG_ERROR,
    Reason.CRASH_LOOP_BACK_OFF,
    Reason.CONTAINER_FAILED,
    Reason.PROGRESS_DEADLINE_EXCEEDED,
)


@dataclass(frozen=True, slots=True)
class ObservedContainer:
    """What matters of one containerStatus."""

    name: str
    ready: bool = False
    restart_count: int = 0
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_exit_code: int | None = None
    terminated_message: str | None = None
    last_terminated_exit_code: int | None = None
    last_terminated_message: str | None = None


@dataclass(frozen=True, slots=True)
class ObservedPod:
    """What matters of one scorer pod."""

    name: str
    phase: str = "Pending"
    deleting: bool = False
    containers: tuple[ObservedContainer, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservedDeployment:
    """What matters of the scorer Deployment (spec + status), after this reconcile's apply."""

    generation: int
    observed_generation: int = 0
    spec_replicas: int = 1
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    paused: bool = False
    progress_deadline_exceeded: bool = False
    template_model: ModelStatus | None = None

    @property
    def rollout_complete(self) -> bool:
        """True when every replica runs the current template and is available (kubectl rollout status)."""
        return (
            self.observed_generation >= self.generation
            and self.updated_replicas >= self.spec_replicas
            and self.replicas <= self.updated_replicas
            and self.available_replicas >= self.updated_replicas
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything `compute_status` looks at for one pipeline."""

    generation: int
    deployment: ObservedDeployment | None
    pods: tuple[ObservedPod, ...] = ()
    reconcile_error: str | None = None
    previous_model: ModelStatus | None = None
    previous_conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class ReconcileStatus:
    """The reconcile's part of `.status` (the autoscaler writes lag, desiredReplicas and its conditions)."""

    observed_generation: int | None
    phase: PipelinePhase
    replicas: int
    ready_replicas: int
    model: ModelStatus | None
    conditions: tuple[Condition, ...] = field(default=())

    def to_status(self) -> dict[str, Any]:
        """The status fields as camelCase JSON (for server-side apply of the status subresource)."""
        out: dict[str, Any] = {
            "phase": self.phase.value,
            "replicas": self.replicas,
            "readyReplicas": self.ready_replicas,
            "conditions": [c.model_dump(mode="json", exclude_none=True) for c in self.conditions],
        }
        if self.observed_generation is not None:
            out["observedGeneration"] = self.observed_generation
        if self.model is not None:
            out["model"] = self.model.model_dump(mode="json")
        return out


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int) else default


def observe_deployment(deployment: Mapping[str, Any]) -> ObservedDeployment:
    """Extract an `ObservedDeployment` from a Deployment as JSON (camelCase dict)."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    annotations = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    model = None
    if all(key in annotations for key in (ANNOTATION_MODEL_NAME, ANNOTATION_MODEL_VERSION, ANNOTATION_MODEL_SHA256)):
        model = ModelStatus(
            name=annotations[ANNOTATION_MODEL_NAME],
            version=annotations[ANNOTATION_MODEL_VERSION],
            sha256=annotations[ANNOTATION_MODEL_SHA256],
        )
    deadline = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or []
    )
    return ObservedDeployment(
        generation=_int(metadata.get("generation"), 1),
        observed_generation=_int(status.get("observedGeneration")),
        spec_replicas=_int(spec.get("replicas"), 1),
        replicas=_int(status.get("replicas")),
        ready_replicas=_int(status.get("readyReplicas")),
        available_replicas=_int(status.get("availableReplicas")),
        updated_replicas=_int(status.get("updatedReplicas")),
        paused=bool(spec.get("paused")),
        progress_deadline_exceeded=deadline,
        template_model=model,
    )


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod:
    """Extract an `ObservedPod` from a Pod as JSON (camelCase dict)."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    containers = []
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        containers.append(
            ObservedContainer(
                name=str(cs.get("name", "")),
                ready=bool(cs.get("ready")),
                restart_count=_int(cs.get("restartCount")),
                waiting_reason=waiting.get("reason"),
                waiting_message=waiting.get("message"),
                terminated_exit_code=terminated.get("exitCode") if terminated else None,
                terminated_message=terminated.get("message") if terminated else None,
                last_terminated_exit_code=last.get("exitCode") if last else None,
                last_terminated_message=last.get("message") if last else None,
            )
        )
    return ObservedPod(
        name=str(metadata.get("name", "")),
        phase=str(status.get("phase", "Pending")),
        deleting=metadata.get("deletionTimestamp") is not None,
        containers=tuple(containers),
    )


def _is_digest_mismatch(message: str | None) -> bool:
    text = (message or "").lower()
    return "sha256" in text and "mismatch" in text


def _container_problem(container: ObservedContainer) -> tuple[Reason, str] | None:
    messages = [m.strip() for m in (container.terminated_message, container.last_terminated_message) if m]
    last_words = messages[0] if messages else ""
    if any(_is_digest_mismatch(m) for m in messages):
        return Reason.MODEL_DIGEST_MISMATCH, last_words
    if container.waiting_reason in _WAITING_REASONS:
        detail = container.waiting_message or ""
        if last_words:
            detail = f"{detail}; last termination: {last_words}" if detail else f"last termination: {last_words}"
        return _WAITING_REASONS[container.waiting_reason], detail
    if container.terminated_exit_code not in (None, 0):
        return Reason.CONTAINER_FAILED, last_words or f"exit code {container.terminated_exit_code}"
    return None


def degraded_reason(
    pods: Iterable[ObservedPod], deployment: ObservedDeployment | None
) -> tuple[Reason, str] | None:
    """Return why the pipeline cannot run as specified, as (reason, message), or None when healthy.

    Looks at scorer pods that are not being deleted (a pod's termination message such as
    "model sha256 mismatch: expected X got Y" wins over its waiting reason) and at the
    Deployment's ProgressDeadlineExceeded. With several problems the most specific reason is
    reported, and the message names the pod and how many pods share it.
    """
    found: dict[Reason, list[tuple[str, str]]] = {}
    for pod in sorted(pods, key=lambda p: p.name):
        if pod.deleting:
            continue
        for container in pod.containers:
            problem = _container_problem(container)
            if problem is not None:
                found.setdefault(problem[0], []).append((pod.name, problem[1]))
                break
    if deployment is not None and deployment.progress_deadline_exceeded:
        found.setdefault(Reason.PROGRESS_DEADLINE_EXCEEDED, []).append(
            ("", "the scorer Deployment made no progress within its deadline")
        )
    for reason in _REASON_PRIORITY:
        if reason in found:
            first_pod, detail = found[reason][0]
            others = len(found[reason]) - 1
            where = f"pod {first_pod}" if first_pod else "deployment"
            message = f"{where}: {reason.value}" + (f": {detail}" if detail else "")
            if others:
                message += f" (and {others} more pod{'s' if others > 1 else ''})"
            return reason, message[:MAX_MESSAGE_LENGTH]
    return None


def _condition(
    type_: ConditionType, status: ConditionStatus, reason: Reason, message: str, *, generation: int, now: datetime
) -> Condition:
    return Condition(
        type=type_.value,
        status=status,
        reason=reason.value,
        message=message[:MAX_MESSAGE_LENGTH],
        last_transition_time=now,
        observed_generation=generation,
    )


def compute_status(observation: Observation, *, now: datetime) -> ReconcileStatus:
    """Return the reconcile's status for `observation`; conditions keep their transition times.

    Only Ready, Progressing and Degraded are returned in `conditions` (the autoscaler's types are
    left to it). Phase: Degraded when Degraded is True; Pending without a Deployment; Progressing
    while the rollout is incomplete; ScaledToZero when complete at 0 replicas; otherwise Ready.
    `model` is the Deployment's template model once the rollout is complete, else the previous
    serving model (what the old pods still run).
    """
    obs = observation
    dep = obs.deployment
    gen = obs.generation
    degraded = degraded_reason(obs.pods, dep)
    if obs.reconcile_error is not None:
        degraded = (Reason.RECONCILE_FAILED, obs.reconcile_error)

    complete = dep is not None and dep.rollout_complete
    if dep is None:
        ready = (ConditionStatus.FALSE, Reason.DEPLOYMENT_MISSING, "the scorer Deployment does not exist yet")
    elif dep.spec_replicas == 0 and complete:
        ready = (ConditionStatus.TRUE, Reason.SCALED_TO_ZERO, "scaled to zero replicas")
    elif dep.spec_replicas > 0 and dep.available_replicas >= dep.spec_replicas:
        ready = (
            ConditionStatus.TRUE,
            Reason.AVAILABLE,
            f"{dep.available_replicas}/{dep.spec_replicas} scorers available",
        )
    else:
        ready = (
            ConditionStatus.FALSE,
            Reason.NOT_AVAILABLE,
            f"{dep.available_replicas}/{dep.spec_replicas} scorers available",
        )

    if dep is None:
        progressing = (ConditionStatus.TRUE, Reason.ROLLING_OUT, "creating the scorer Deployment")
    elif dep.progress_deadline_exceeded and not complete:
        progressing = (ConditionStatus.FALSE, Reason.PROGRESS_DEADLINE_EXCEEDED, "rollout stalled past its deadline")
    elif complete:
        version = dep.template_model.version if dep.template_model else "?"
        progressing = (ConditionStatus.FALSE, Reason.ROLLOUT_COMPLETE, f"all scorers run model version {version}")
    elif dep.paused:
        progressing = (ConditionStatus.UNKNOWN, Reason.ROLLOUT_PAUSED, "the pipeline is paused; rollout on hold")
    else:
        progressing = (
            ConditionStatus.TRUE,
            Reason.ROLLING_OUT,
            f"{dep.updated_replicas}/{dep.spec_replicas} scorers updated, {dep.available_replicas} available",
        )

    if degraded is None:
        degraded_condition = (ConditionStatus.FALSE, Reason.AS_EXPECTED, "")
    else:
        degraded_condition = (ConditionStatus.TRUE, degraded[0], degraded[1])

    mine: tuple[Condition, ...] = tuple(
        c for c in obs.previous_conditions if c.type in {t.value for t in _OWN_TYPES}
    )
    for type_, (status, reason, message) in (
        (ConditionType.READY, ready),
        (ConditionType.PROGRESSING, progressing),
        (ConditionType.DEGRADED, degraded_condition),
    ):
        mine = set_condition(mine, _condition(type_, status, reason, message, generation=gen, now=now), now=now)

    if degraded is not None:
        phase = PipelinePhase.DEGRADED
    elif dep is None:
        phase = PipelinePhase.PENDING
    elif not complete:
        phase = PipelinePhase.PROGRESSING
    elif dep.spec_replicas == 0:
        phase = PipelinePhase.SCALED_TO_ZERO
    else:
        phase = PipelinePhase.READY

    return ReconcileStatus(
        observed_generation=gen,
        phase=phase,
        replicas=dep.replicas if dep else 0,
        ready_replicas=dep.ready_replicas if dep else 0,
        model=dep.template_model if (dep is not None and complete) else obs.previous_model,
        conditions=_sorted(mine),
    )


_OWN_TYPES = (ConditionType.READY, ConditionType.PROGRESSING, ConditionType.DEGRADED)


def _sorted(conditions: Sequence[Condition]) -> tuple[Condition, ...]:
    order = {t.value: i for i, t in enumerate(_OWN_TYPES)}
    return tuple(sorted(conditions, key=lambda c: order.get(c.type, len(order))))


def transitions(before: Iterable[Condition], after: Iterable[Condition]) -> list[tuple[Condition, Condition | None]]:
    """Conditions in `after` whose status or reason differ from `before`, with the old one (for Events)."""
    previous = list(before)
    changed: list[tuple[Condition, Condition | None]] = []
    for new in after:
        old = find_condition(previous, new.type)
        if old is None or old.status != new.status or old.reason != new.reason:
            changed.append((new, old))
    return changed

"""compute_status(): phase and Ready/Progressing/Degraded from observed children."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from detection_operator.api.conditions import Condition, ConditionStatus, Reason
from detection_operator.api.pipeline import ModelStatus, PipelinePhase
from detection_operator.status import (
    Observation,
    ObservedContainer,
    ObservedDeployment,
    ObservedPod,
    ReconcileStatus,
    compute_status,
    observe_deployment,
    observe_pod,
    transitions,
)

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
V1 = ModelStatus(name="m", version="1", sha256="a" * 64)
V2 = ModelStatus(name="m", version="2", sha256="b" * 64)


def dep(**kw: object) -> ObservedDeployment:
    base: dict[str, object] = dict(
        generation=2, observed_generation=2, spec_replicas=2, replicas=2, ready_replicas=2,
        available_replicas=2, updated_replicas=2, template_model=V2,
    )
    base.update(kw)
    return ObservedDeployment(**base)  # type: ignore[arg-type]


def pod(name: str = "p-1", **container: object) -> ObservedPod:
    return ObservedPod(name=name, phase="Running", containers=(ObservedContainer(name="scorer", **container),))  # type: ignore[arg-type]


def conditions_of(status: object) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status.value, c.reason) for c in status.conditions}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("observation", "phase", "ready", "progressing", "degraded", "model"),
    [
        pytest.param(
            Observation(generation=1, deployment=None), PipelinePhase.PENDING,
            ("False", "DeploymentMissing"), ("True", "RollingOut"), ("False", "AsExpected"), None,
            id="no-deployment-yet",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep()), PipelinePhase.READY,
            ("True", "Available"), ("False", "RolloutComplete"), ("False", "AsExpected"), V2,
            id="all-available",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(spec_replicas=0, replicas=0, ready_replicas=0,
                                                     available_replicas=0, updated_replicas=0)),
            PipelinePhase.SCALED_TO_ZERO,
            ("True", "ScaledToZero"), ("False", "RolloutComplete"), ("False", "AsExpected"), V2,
            id="scaled-to-zero",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(replicas=3, updated_replicas=1), previous_model=V1),
            PipelinePhase.PROGRESSING,
            ("True", "Available"), ("True", "RollingOut"), ("False", "AsExpected"), V1,
            id="rolling-keeps-old-model",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(observed_generation=1), previous_model=V1),
            PipelinePhase.PROGRESSING,
            ("True", "Available"), ("True", "RollingOut"), ("False", "AsExpected"), V1,
            id="controller-not-caught-up",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(ready_replicas=0, available_replicas=0),
                        pods=(pod(waiting_reason="CrashLoopBackOff", restart_count=4,
                                  last_terminated_exit_code=1,
                                  last_terminated_message="model sha256 mismatch: expected a got b"),)),
            PipelinePhase.DEGRADED,
            ("False", "NotAvailable"), ("True", "RollingOut"), ("True", "ModelDigestMismatch"), None,
            id="digest-mismatch-wins-over-crashloop",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(ready_replicas=1, available_replicas=1),
                        pods=(pod(waiting_reason="CrashLoopBackOff", last_terminated_exit_code=2),)),
            PipelinePhase.DEGRADED,
            ("False", "NotAvailable"), ("True", "RollingOut"), ("True", "CrashLoopBackOff"), None,
            id="crashloop",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(),
                        pods=(pod("a", waiting_reason="CrashLoopBackOff"), pod("b", waiting_reason="ErrImagePull"))),
            PipelinePhase.DEGRADED,
            ("True", "Available"), ("False", "RolloutComplete"), ("True", "ImagePullBackOff"), V2,
            id="image-pull-outranks-crashloop",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(ready_replicas=0, available_replicas=0),
                        pods=(pod(waiting_reason="RunContainerError",
                                  waiting_message="exec: \"scorefleet-scorer\": executable file not found"),)),
            PipelinePhase.DEGRADED,
            ("False", "NotAvailable"), ("True", "RollingOut"), ("True", "CreateContainerConfigError"), None,
            id="container-cannot-start",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(),
                        pods=(ObservedPod(name="old", deleting=True, containers=(
                            ObservedContainer(name="scorer", waiting_reason="CrashLoopBackOff"),)),)),
            PipelinePhase.READY,
            ("True", "Available"), ("False", "RolloutComplete"), ("False", "AsExpected"), V2,
            id="terminating-pod-ignored",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(updated_replicas=1, progress_deadline_exceeded=True)),
            PipelinePhase.DEGRADED,
            ("True", "Available"), ("False", "ProgressDeadlineExceeded"), ("True", "ProgressDeadlineExceeded"), None,
            id="progress-deadline",
        ),
        pytest.param(
            Observation(generation=3, deployment=dep(updated_replicas=1, paused=True), previous_model=V1),
            PipelinePhase.PROGRESSING,
            ("True", "Available"), ("Unknown", "RolloutPaused"), ("False", "AsExpected"), V1,
            id="paused-mid-rollout",
        ),
        pytest.param(
            Observation(generation=3, deployment=None, reconcile_error="apply Deployment: 500"),
            PipelinePhase.DEGRADED,
            ("False", "DeploymentMissing"), ("True", "RollingOut"), ("True", "ReconcileFailed"), None,
            id="apply-failed",
        ),
    ],
)
def test_compute_status(
    observation: Observation,
    phase: PipelinePhase,
    ready: tuple[str, str],
    progressing: tuple[str, str],
    degraded: tuple[str, str],
    model: ModelStatus | None,
) -> None:
    status = compute_status(observation, now=NOW)
    assert status.phase is phase
    assert status.observed_generation == observation.generation
    assert conditions_of(status) == {"Ready": ready, "Progressing": progressing, "Degraded": degraded}
    assert status.model == model
    assert all(c.observed_generation == observation.generation for c in status.conditions)


def test_transition_time_kept_and_foreign_conditions_dropped() -> None:
    earlier = NOW - timedelta(hours=1)
    previous = (
        Condition(type="Ready", status=ConditionStatus.TRUE, reason="Available", last_transition_time=earlier),
        Condition(type="LagSourceHealthy", status=ConditionStatus.TRUE, reason="Ok", last_transition_time=earlier),
    )
    status = compute_status(Observation(generation=1, deployment=dep(), previous_conditions=previous), now=NOW)
    by_type = {c.type: c for c in status.conditions}
    assert by_type["Ready"].last_transition_time == earlier
    assert by_type["Degraded"].last_transition_time == NOW
    assert "LagSourceHealthy" not in by_type, "the autoscaler's conditions are its own to write"
    changed = {new.type for new, _ in transitions(previous, status.conditions)}
    assert changed == {"Progressing", "Degraded"}


def test_degraded_message_names_pod_and_count() -> None:
    pods = tuple(pod(f"p-{i}", waiting_reason="CrashLoopBackOff", waiting_message="back-off 10s") for i in range(3))
    status = compute_status(Observation(generation=1, deployment=dep(), pods=pods), now=NOW)
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert degraded.reason == Reason.CRASH_LOOP_BACK_OFF
    assert degraded.message == "pod p-0: CrashLoopBackOff: back-off 10s (and 2 more pods)"


def test_observe_from_json() -> None:
    deployment = observe_deployment(
        {
            "metadata": {"generation": 4},
            "spec": {"replicas": 3, "paused": False, "template": {"metadata": {"annotations": {
                "scorefleet.io/model-name": "m", "scorefleet.io/model-version": "2",
                "scorefleet.io/model-sha256": "b" * 64}}}},
            "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                       "availableReplicas": 3,
                       "conditions": [{"type": "Progressing", "reason": "NewReplicaSetAvailable"}]},
        }
    )
    assert deployment.rollout_complete and deployment.template_model == V2
    observed = observe_pod(
        {
            "metadata": {"name": "p"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "scorer", "ready": False, "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {"terminated": {"exitCode": 1, "message": "model sha256 mismatch"}}}]},
        }
    )
    assert observed.containers[0].last_terminated_message == "model sha256 mismatch"
    assert observed.containers[0].waiting_reason == "CrashLoopBackOff"


def test_status_json_omits_unknown_observed_generation() -> None:
    status = compute_status(Observation(generation=4, deployment=dep()), now=NOW)
    assert status.to_status()["observedGeneration"] == 4
    unknown = ReconcileStatus(observed_generation=None, phase=PipelinePhase.DEGRADED, replicas=0, ready_replicas=0,
                              model=None)
    assert "observedGeneration" not in unknown.to_status(), "a failed reconcile must not claim the generation"


@pytest.mark.parametrize(
    ("peers", "expected"),
    [
        pytest.param({}, False, id="no-peers"),
        pytest.param({"me": {"priority": 5, "lastseen": "2026-11-29T11:59:30+00:00", "lifetime": 60}}, False,
                     id="only-self"),
        pytest.param({"me": {"priority": 5, "lastseen": "2026-11-29T11:59:30+00:00", "lifetime": 60},
                      "other": {"priority": 9, "lastseen": "2026-11-29T11:59:50+00:00", "lifetime": 60}}, True,
                     id="higher-alive"),
        pytest.param({"other": {"priority": 9, "lastseen": "2026-11-29T11:50:00+00:00", "lifetime": 60}}, False,
                     id="higher-dead"),
        pytest.param({"me": {"priority": 5, "lastseen": "2026-11-29T11:59:30+00:00", "lifetime": 60},
                      "twin": {"priority": 5, "lastseen": "2026-11-29T11:59:40+00:00", "lifetime": 60}}, True,
                     id="equal-alive-pauses-like-kopf"),
        pytest.param({"other": {"priority": 1, "lastseen": "2026-11-29T11:59:50+00:00", "lifetime": 60}}, False,
                     id="lower-alive"),
    ],
)
def test_peering_gate_of_the_resync(peers: dict[str, object], expected: bool) -> None:
    from detection_operator.handlers.reconcile import higher_priority_peer_alive

    assert higher_priority_peer_alive(peers, priority=5, now=NOW) is expected

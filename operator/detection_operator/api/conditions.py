"""Status conditions of a DetectionPipeline and the pure rule that updates them.

Layer: models + pure core. `set_condition` follows the Kubernetes convention
(metav1.Condition): `lastTransitionTime` moves only when `status` flips, so a reason or message
update does not look like a new transition to alerting.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError

from detection_operator.api.base import ApiModel


class ConditionType(StrEnum):
    """Condition types a DetectionPipeline reports.

    Ready/Progressing/Degraded are written by the reconcile; LagSourceHealthy/ScalingLimited by
    the autoscaler. Each writer owns its own types (server-side apply, list keyed by `type`).
    """

    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    LAG_SOURCE_HEALTHY = "LagSourceHealthy"
    SCALING_LIMITED = "ScalingLimited"


class ConditionStatus(StrEnum):
    """Tri-state condition status, as in Kubernetes."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Reason(StrEnum):
    """Machine-readable reasons (CamelCase) used by the reconcile's conditions."""

    # Ready
    AVAILABLE = "Available"
    SCALED_TO_ZERO = "ScaledToZero"
    NOT_AVAILABLE = "NotAvailable"
    DEPLOYMENT_MISSING = "DeploymentMissing"
    # Progressing
    ROLLING_OUT = "RollingOut"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ROLLOUT_PAUSED = "RolloutPaused"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    # Degraded
    AS_EXPECTED = "AsExpected"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    MODEL_DIGEST_MISMATCH = "ModelDigestMismatch"
    CONTAINER_FAILED = "ContainerFailed"
    RECONCILE_FAILED = "ReconcileFailed"
    INVALID_SPEC = "InvalidSpec"


class Condition(ApiModel):
    """One observation about the pipeline (metav1.Condition shape)."""

    type: str = Field(max_length=316, description="Condition type: Ready, Progressing, Degraded, ...")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=1024, description="CamelCase reason for the last transition.")
    message: str = Field(
        default="", max_length=32768, description="Human-readable details, naming the object at fault."
    )
    last_transition_time: datetime = Field(
        description="When status last changed (RFC 3339); unchanged by reason/message updates."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the pipeline this condition was computed from."
    )


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """Return the condition of type `type_` in `conditions`, or None."""
    return next((c for c in conditions if c.type == type_), None)


def set_condition(
    conditions: Iterable[Condition],
    new: Condition,
    *,
    now: datetime,
) -> tuple[Condition, ...]:
    """Return `conditions` with `new` put in place of the condition of the same type.

    `lastTransitionTime` is `now` when the type is new or its status changed, otherwise the old
    value is kept (`new.last_transition_time` is ignored). Order is kept; a new type is appended.
    Pure: the inputs are not modified.
    """
    result: list[Condition] = []
    placed = False
    for old in conditions:
        if old.type != new.type:
            result.append(old)
            continue
        keep_time = old.status == new.status
        result.append(new.model_copy(update={"last_transition_time": old.last_transition_time if keep_time else now}))
        placed = True
    if not placed:
        result.append(new.model_copy(update={"last_transition_time": now}))
    return tuple(result)


def parse_conditions(raw: Iterable[Any]) -> tuple[Condition, ...]:
    """Conditions from a status's raw `conditions` list, in order; malformed entries (written by
    someone else) are skipped, since the operator's own will replace them."""
    out = []
    for item in raw:
        try:
            out.append(Condition.model_validate(item))
        except ValidationError:
            continue
    return tuple(out)

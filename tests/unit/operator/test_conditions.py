"""set_condition moves lastTransitionTime only when the status flips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from detection_operator.api.conditions import Condition, ConditionStatus, set_condition

T0 = datetime(2026, 11, 1, tzinfo=UTC)
T1 = datetime(2026, 11, 2, tzinfo=UTC)


def cond(type_: str, status: ConditionStatus, reason: str = "R", when: datetime = T0) -> Condition:
    return Condition(type=type_, status=status, reason=reason, last_transition_time=when)


@pytest.mark.parametrize(
    ("before", "new", "expected_time", "expected_len"),
    [
        pytest.param((), cond("Ready", ConditionStatus.TRUE), T1, 1, id="new-type-appended-at-now"),
        pytest.param(
            (cond("Ready", ConditionStatus.TRUE),), cond("Ready", ConditionStatus.TRUE, "Other"), T0, 1,
            id="same-status-keeps-time",
        ),
        pytest.param(
            (cond("Ready", ConditionStatus.TRUE),), cond("Ready", ConditionStatus.FALSE), T1, 1,
            id="flip-moves-time",
        ),
        pytest.param(
            (cond("Degraded", ConditionStatus.FALSE),), cond("Ready", ConditionStatus.TRUE), T1, 2,
            id="other-types-kept",
        ),
    ],
)
def test_set_condition(
    before: tuple[Condition, ...], new: Condition, expected_time: datetime, expected_len: int
) -> None:
    after = set_condition(before, new, now=T1)
    assert len(after) == expected_len
    (placed,) = (c for c in after if c.type == new.type)
    assert placed.last_transition_time == expected_time
    assert placed.reason == new.reason
    assert placed.status == new.status

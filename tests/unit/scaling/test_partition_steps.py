"""Even partition steps: counts that lower ceil(partitions / consumers)."""

from __future__ import annotations

import pytest
from detection_operator.scaling.partition_steps import (
    busiest_consumer_partitions,
    partition_steps,
    step_down,
    step_up,
)


@pytest.mark.parametrize(
    ("partitions", "steps"),
    [
        pytest.param(48, [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 48], id="48-partitions"),
        pytest.param(6, [1, 2, 3, 6], id="6-partitions"),
        pytest.param(7, [1, 2, 3, 4, 7], id="prime-7-more-than-divisors"),
        pytest.param(1, [1], id="one-partition"),
    ],
)
def test_partition_steps(partitions: int, steps: list[int]) -> None:
    assert partition_steps(partitions) == steps


@pytest.mark.parametrize(
    ("consumers", "partitions", "up", "down"),
    [
        pytest.param(13, 48, 16, 12, id="13-of-48"),
        pytest.param(25, 48, 48, 24, id="25-to-47-no-better-than-24"),
        pytest.param(47, 48, 48, 24, id="47-of-48"),
        pytest.param(24, 48, 24, 24, id="already-a-step"),
        pytest.param(5, 6, 6, 3, id="5-of-6"),
        pytest.param(1, 6, 1, 1, id="one-consumer"),
    ],
)
def test_step_up_and_down(consumers: int, partitions: int, up: int, down: int) -> None:
    assert step_up(consumers, partitions) == up
    assert step_down(consumers, partitions) == down


@pytest.mark.parametrize("partitions", [pytest.param(p, id=f"{p}-partitions") for p in (1, 6, 12, 48, 100)])
def test_steps_agree_with_definition(partitions: int) -> None:
    steps = partition_steps(partitions)
    for n in range(1, partitions + 1):
        assert step_up(n, partitions) == min(s for s in steps if s >= n)
        assert step_down(n, partitions) == max(s for s in steps if s <= n)
        assert busiest_consumer_partitions(partitions, step_up(n, partitions)) <= busiest_consumer_partitions(
            partitions, n)


@pytest.mark.parametrize(
    ("consumers", "partitions"),
    [pytest.param(0, 4, id="zero-consumers"), pytest.param(5, 4, id="more-consumers-than-partitions")],
)
def test_out_of_range(consumers: int, partitions: int) -> None:
    with pytest.raises(ValueError, match="consumers"):
        step_up(consumers, partitions)

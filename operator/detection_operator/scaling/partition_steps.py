"""Partition steps: which consumer counts actually add per-partition capacity.

Layer: pure core, used by ``scaling.decision``.

With P partitions spread over N consumers of one group (any of Kafka's assignors balances counts),
the busiest consumer owns ceil(P/N) partitions. When one partition's throughput is the bottleneck,
only counts that lower ceil(P/N) help: for 48 partitions those are 1, 2, 3, 4, 5, 6, 7, 8, 10, 12,
16, 24, 48, and 25..47 consumers are no better than 24. KEDA's nearest option
(``ensureEvenDistributionOfPartitions``) allows only exact divisors of P, which would skip 5, 7
and 10 here; these "steps" are the smallest N for each value of ceil(P/N), a superset of divisors.
"""

from __future__ import annotations

__all__ = ["busiest_consumer_partitions", "partition_steps", "step_down", "step_up"]


def busiest_consumer_partitions(partitions: int, consumers: int) -> int:
    """Return ceil(partitions / consumers): partitions owned by the busiest consumer.

    Raises ValueError when ``consumers`` < 1 or ``partitions`` < 0.
    """
    if consumers < 1 or partitions < 0:
        raise ValueError(f"need consumers >= 1 and partitions >= 0, got {consumers=} {partitions=}")
    return -(-partitions // consumers)


def step_down(consumers: int, partitions: int) -> int:
    """Return the largest step <= ``consumers``: the fewest consumers with the same busiest load.

    ``consumers`` must be in 1..``partitions``; e.g. (14, 48) -> 12, (24, 48) -> 24.
    """
    _check(consumers, partitions)
    return -(-partitions // busiest_consumer_partitions(partitions, consumers))


def step_up(consumers: int, partitions: int) -> int:
    """Return the smallest step >= ``consumers``; e.g. (13, 48) -> 16, (25, 48) -> 48, (12, 48) -> 12.

    ``consumers`` must be in 1..``partitions``. A step is the smallest count for its value of
    ceil(P/N); if ``consumers`` is not one, the next step lowers the busiest load by one partition.
    """
    _check(consumers, partitions)
    load = busiest_consumer_partitions(partitions, consumers)
    if -(-partitions // load) == consumers:
        return consumers
    return -(-partitions // (load - 1))


def partition_steps(partitions: int) -> list[int]:
    """Return every step for ``partitions`` (ascending): the consumer counts that lower ceil(P/N)."""
    return sorted({step_down(n, partitions) for n in range(1, partitions + 1)})


def _check(consumers: int, partitions: int) -> None:
    if not 1 <= consumers <= partitions:
        raise ValueError(f"consumers must be in 1..partitions, got {consumers=} {partitions=}")

"""Throughput estimate: input rate and per-consumer capacity from successive offset totals.

Layer: pure core, used by ``scaling.decision``.

Why: a lag target alone (KEDA's rule) cannot tell "no lag because the input stopped" from "no lag
because enough consumers keep up". Under a steady high input rate the lag sits near zero, the
lag recommendation falls to minReplicas, and once the stabilization window passes the fleet is
cut to minReplicas, the lag explodes and it scales out again — one sawtooth per window (measured
on the dev stack with ``bench/autoscale_step.py``). So the decision also keeps enough consumers
for the *input rate*: ceil(input rate x headroom / capacity per consumer), where capacity is learnt
only while consumers were saturated (a backlog of at least lagThreshold throughout an interval).
Until capacity has been learnt this floor is absent and the decision is KEDA's.

Rates come from two totals each poll: the sum of the topic's end offsets (what was produced) and
the total lag; consumed = end - lag, so the consumption rate needs no extra query. State (the
last sample and the estimates) is passed in and returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

__all__ = ["RATE_HEADROOM", "OffsetTotals", "Throughput", "rate_floor_replicas", "update_throughput"]

#: Replicas are sized for this much more than the measured input rate.
RATE_HEADROOM = 1.2
#: Weight of the newest saturated sample in the capacity estimate (exponential moving average).
CAPACITY_SMOOTHING = 0.5
#: Shorter intervals than this between polls are too noisy to measure a rate over.
MIN_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class OffsetTotals:
    """Sum of the topic's end offsets and total lag at one poll."""

    at: datetime
    end_offsets_total: int
    lag_messages: int


@dataclass(frozen=True, slots=True)
class Throughput:
    """Carried between polls. Rates in messages per second; None = not measured yet."""

    last: OffsetTotals | None = None
    input_rate_per_second: float | None = None
    capacity_per_consumer_per_second: float | None = None


def update_throughput(
    previous: Throughput, totals: OffsetTotals, *, consumers: int, lag_threshold: int
) -> Throughput:
    """Return the estimate after one more poll.

    ``consumers`` are the replicas actually consuming (ready) over the interval. Capacity is
    updated only when the interval had a backlog of at least ``lag_threshold`` at both ends
    (consumers never idled) and there were consumers. A drop of the end-offset total (topic
    recreated) restarts the measurement.
    """
    last = previous.last
    if last is None or totals.end_offsets_total < last.end_offsets_total:
        return Throughput(last=totals, capacity_per_consumer_per_second=previous.capacity_per_consumer_per_second)
    seconds = (totals.at - last.at).total_seconds()
    if seconds < MIN_INTERVAL_SECONDS:
        return previous
    produced = totals.end_offsets_total - last.end_offsets_total
    consumed = (totals.end_offsets_total - totals.lag_messages) - (last.end_offsets_total - last.lag_messages)
    input_rate = produced / seconds
    capacity = previous.capacity_per_consumer_per_second
    saturated = min(last.lag_messages, totals.lag_messages) >= lag_threshold
    if saturated and consumers > 0 and consumed > 0:
        sample = consumed / seconds / consumers
        capacity = sample if capacity is None else CAPACITY_SMOOTHING * sample + (1 - CAPACITY_SMOOTHING) * capacity
    return Throughput(last=totals, input_rate_per_second=input_rate, capacity_per_consumer_per_second=capacity)


def rate_floor_replicas(throughput: Throughput, *, headroom: float = RATE_HEADROOM) -> int | None:
    """Consumers needed to keep up with the input rate, ceil(rate x headroom / capacity); None if unknown."""
    rate, capacity = throughput.input_rate_per_second, throughput.capacity_per_consumer_per_second
    if rate is None or capacity is None or capacity <= 0:
        return None
    return math.ceil(rate * headroom / capacity)

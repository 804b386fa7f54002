"""Batch sizing, back-pressure and commit timing decisions."""

from __future__ import annotations

import pytest
from scorer.batching import BatchPolicy, FetchRequest, commit_due


@pytest.mark.parametrize(
    ("in_flight", "expected"),
    [
        pytest.param(0, FetchRequest(max_messages=500, timeout_seconds=0.02), id="idle-full-batch"),
        pytest.param(9_800, FetchRequest(max_messages=200, timeout_seconds=0.02), id="near-limit-smaller-batch"),
        pytest.param(9_999, FetchRequest(max_messages=1, timeout_seconds=0.02), id="one-slot-left"),
        pytest.param(10_000, None, id="at-limit-pause"),
        pytest.param(12_000, None, id="over-limit-pause"),
    ],
)
def test_next_fetch(in_flight: int, expected: FetchRequest | None) -> None:
    policy = BatchPolicy(max_messages=500, max_bytes=1_048_576, max_wait_ms=20, max_in_flight_messages=10_000)
    assert policy.next_fetch(in_flight_messages=in_flight, mean_record_bytes=700.0) == expected


@pytest.mark.parametrize(
    ("mean_record_bytes", "in_flight", "expected_messages"),
    [
        pytest.param(0.0, 0, 500, id="size-unknown-count-bound"),
        pytest.param(700.0, 0, 500, id="small-json-count-bound"),
        pytest.param(21_700.0, 0, 48, id="raw-mail-byte-bound"),
        pytest.param(21_700.0, 9_980, 20, id="in-flight-room-tighter-than-bytes"),
        pytest.param(5_000_000.0, 0, 1, id="record-over-budget-still-one"),
    ],
)
def test_next_fetch_byte_budget(mean_record_bytes: float, in_flight: int, expected_messages: int) -> None:
    policy = BatchPolicy(max_messages=500, max_bytes=1_048_576, max_wait_ms=20, max_in_flight_messages=10_000)
    request = policy.next_fetch(in_flight_messages=in_flight, mean_record_bytes=mean_record_bytes)
    assert request == FetchRequest(max_messages=expected_messages, timeout_seconds=0.02)


@pytest.mark.parametrize(
    ("now", "last", "has_work", "expected"),
    [
        pytest.param(10.0, 9.0, True, True, id="interval-passed-with-work"),
        pytest.param(10.0, 9.99, True, False, id="too-soon"),
        pytest.param(10.0, 0.0, False, False, id="nothing-to-commit"),
        pytest.param(10.05, 10.0, True, True, id="exactly-the-interval"),
    ],
)
def test_commit_due(now: float, last: float, has_work: bool, expected: bool) -> None:
    assert commit_due(now_seconds=now, last_commit_seconds=last, interval_seconds=0.05, has_work=has_work) is expected

"""Unit tests: loopback pod-IP allocation of the node agent."""

from __future__ import annotations

import pytest
from scorefleet_devstack.node_agent.ip_pool import PodIPPool, PoolExhaustedError


def test_allocations_are_distinct_and_stable_per_pod() -> None:
    pool = PodIPPool("127.0.1.")
    first, second = pool.allocate("a"), pool.allocate("b")
    assert (first, second) == ("127.0.1.2", "127.0.1.3")
    assert pool.allocate("a") == first


def test_freed_address_is_not_reused_at_once() -> None:
    pool = PodIPPool("127.0.1.")
    first = pool.allocate("a")
    pool.release("a")
    assert pool.allocate("b") != first


def test_allocation_wraps_around_to_freed_addresses() -> None:
    pool = PodIPPool("127.0.1.")
    uids = [f"pod-{n}" for n in range(PodIPPool.LAST_HOST - PodIPPool.FIRST_HOST + 1)]
    for uid in uids:
        pool.allocate(uid)
    with pytest.raises(PoolExhaustedError):
        pool.allocate("one-too-many")
    pool.release("pod-5")
    assert pool.allocate("late") == "127.0.1.7"


@pytest.mark.parametrize(
    ("address", "holder", "expected"),
    [
        pytest.param("127.0.1.9", None, True, id="free-address"),
        pytest.param("127.0.1.9", "other", False, id="held-by-another-pod"),
        pytest.param("127.0.1.9", "me", True, id="already-mine"),
        pytest.param("127.0.2.9", None, False, id="outside-prefix"),
        pytest.param("127.0.1.1", None, False, id="below-pool"),
        pytest.param("127.0.1.255", None, False, id="above-pool"),
        pytest.param("127.0.1.x", None, False, id="not-a-number"),
    ],
)
def test_reserve(address: str, holder: str | None, expected: bool) -> None:
    pool = PodIPPool("127.0.1.")
    if holder is not None:
        assert pool.reserve(holder, address="127.0.1.9")
    assert pool.reserve("me", address=address) is expected
    assert (pool.in_use().get("me") == address) is expected


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("10.0.0.", id="not-loopback"),
        pytest.param("127.0.1", id="no-trailing-dot"),
    ],
)
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        PodIPPool(prefix)

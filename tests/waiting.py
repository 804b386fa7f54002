"""Waiting on the real stack: poll a condition until it holds, with a deadline (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException


def wait_for(probe: Callable[[], Any], *, timeout_seconds: float, what: str, poll_seconds: float = 0.2) -> Any:
    """Call `probe` every `poll_seconds` until it returns something truthy, and return that.

    A Kubernetes 404 from the probe counts as "not yet" (the object may not exist yet); any other
    error propagates. Raises AssertionError naming `what` and the last value after `timeout_seconds`."""
    deadline = time.monotonic() + timeout_seconds
    last: Any = None
    while True:
        try:
            last = probe()
        except ApiException as exc:
            if exc.status != 404:
                raise
            last = None
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(poll_seconds)

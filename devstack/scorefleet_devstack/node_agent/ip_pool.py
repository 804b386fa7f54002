"""Pure: allocation of per-pod loopback IPs (``<prefix>2`` .. ``<prefix>254``).

All of 127.0.0.0/8 is loopback on Linux, so a process can bind any of these addresses without
setup. Allocation rotates (next free address after the last one handed out) so a freed address
is not reused at once, as a CNI's host-local IPAM does, which keeps stale endpoints from pointing
at a new pod.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection


class PoolExhaustedError(Exception):
    """Every address of the pool is in use."""


class PodIPPool:
    """Loopback pod IPs keyed by pod UID. Not thread-safe: callers serialise access.

    ``prefix`` is the first three octets with a trailing dot, e.g. ``"127.0.1."``; raises
    ``ValueError`` if ``prefix + "1"`` is not a loopback IPv4 address.
    """

    FIRST_HOST = 2
    LAST_HOST = 254

    def __init__(self, prefix: str) -> None:
        if not prefix.endswith(".") or not ipaddress.IPv4Address(prefix + "1").is_loopback:
            raise ValueError(f"pod IP prefix {prefix!r} must look like '127.0.1.' (a loopback /24)")
        self._prefix = prefix
        self._by_uid: dict[str, str] = {}
        self._last_host = self.FIRST_HOST - 1

    def allocate(self, pod_uid: str, *, occupied: Collection[str] = ()) -> str:
        """The pod's IP: its existing one, else the next free address. Raises ``PoolExhaustedError``.

        ``occupied``: addresses to skip although no pod holds them (a process the agent does not
        know listens there; see ``sockets.addresses_listened_on``).
        """
        if pod_uid in self._by_uid:
            return self._by_uid[pod_uid]
        in_use = set(self._by_uid.values()) | set(occupied)
        span = self.LAST_HOST - self.FIRST_HOST + 1
        for step in range(1, span + 1):
            host = self.FIRST_HOST + (self._last_host - self.FIRST_HOST + step) % span
            address = f"{self._prefix}{host}"
            if address not in in_use:
                self._by_uid[pod_uid] = address
                self._last_host = host
                return address
        raise PoolExhaustedError(f"all {span} pod IPs under {self._prefix}0/24 are in use")

    def reserve(self, pod_uid: str, *, address: str) -> bool:
        """Claim ``address`` for ``pod_uid`` (e.g. a pod adopted after an agent restart).

        Returns False (and claims nothing) if the address is outside the pool or held by
        another pod.
        """
        if not address.startswith(self._prefix):
            return False
        host = address[len(self._prefix) :]
        if not host.isdigit() or not self.FIRST_HOST <= int(host) <= self.LAST_HOST:
            return False
        owner = next((uid for uid, held in self._by_uid.items() if held == address), None)
        if owner not in (None, pod_uid):
            return False
        self._by_uid[pod_uid] = address
        return True

    def release(self, pod_uid: str) -> None:
        """Free the pod's address; a no-op if it holds none."""
        self._by_uid.pop(pod_uid, None)

    def in_use(self) -> dict[str, str]:
        """A copy of the allocations, pod UID -> address."""
        return dict(self._by_uid)

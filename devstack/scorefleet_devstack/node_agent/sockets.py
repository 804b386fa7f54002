"""Which processes listen on which loopback address (I/O over /proc; parsing is pure).

The node agent hands out pod IPs from a loopback /24. A process it does not know of (left by an
agent that was killed, or started by hand) may still listen on one of them; handing that address
to a new pod makes the pod's server fail with "Address already in use". The agent therefore
skips addresses with a listener it does not own, and ``devstack down`` stops processes still
listening in the pod range after the agent has gone (``pids_listening_under``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: TCP state LISTEN in /proc/net/tcp (include/net/tcp_states.h: TCP_LISTEN = 10).
_LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class ListeningSocket:
    """One IPv4 TCP socket in LISTEN state: its address, port and socket inode."""

    address: str
    port: int
    inode: int


def parse_proc_net_tcp(text: str) -> list[ListeningSocket]:
    """The listening sockets in the text of ``/proc/net/tcp`` (proc(5)).

    Addresses there are the IPv4 address in host byte order as 8 hex digits (little-endian on
    the machines we run: ``0101007F`` is 127.0.1.1) and the port as 4 hex digits.
    """
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        address_hex, _, port_hex = fields[1].partition(":")
        octets = bytes.fromhex(address_hex)[::-1]
        sockets.append(
            ListeningSocket(
                address=".".join(str(octet) for octet in octets), port=int(port_hex, 16), inode=int(fields[9])
            )
        )
    return sockets


def listening_sockets(proc: Path = Path("/proc")) -> list[ListeningSocket]:
    """The IPv4 TCP listening sockets of this network namespace."""
    return parse_proc_net_tcp((proc / "net" / "tcp").read_text())


def addresses_listened_on(prefix: str, proc: Path = Path("/proc")) -> set[str]:
    """Addresses starting with ``prefix`` (e.g. ``"127.0.1."``) that some process listens on."""
    return {socket.address for socket in listening_sockets(proc) if socket.address.startswith(prefix)}


def _socket_inodes_of(pid_dir: Path) -> Iterable[int]:
    try:
        descriptors = list((pid_dir / "fd").iterdir())
    except OSError:  # gone, or not ours to read
        return
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            yield int(target[len("socket:[") : -1])


def pids_listening_under(prefix: str, proc: Path = Path("/proc")) -> dict[int, set[str]]:
    """pid -> the ``prefix`` addresses it listens on, for every process with such a listener."""
    by_inode = {socket.inode: socket.address for socket in listening_sockets(proc) if socket.address.startswith(prefix)}
    found: dict[int, set[str]] = {}
    if not by_inode:
        return found
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        addresses = {by_inode[inode] for inode in _socket_inodes_of(pid_dir) if inode in by_inode}
        if addresses:
            found[int(pid_dir.name)] = addresses
    return found

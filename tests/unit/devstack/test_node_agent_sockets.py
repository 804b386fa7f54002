"""Unit tests: listening sockets read from /proc (parsing, and a real listener of this process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from scorefleet_devstack.node_agent.ip_pool import PodIPPool
from scorefleet_devstack.node_agent.sockets import (
    ListeningSocket,
    addresses_listened_on,
    parse_proc_net_tcp,
    pids_listening_under,
)
from scorefleet_devstack.stack import stop_leftover_pods

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0101007F:2396 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0
   1: 0100007F:4A38 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0 100 0 0 10 0
"""


def test_parse_proc_net_tcp_keeps_listeners_only() -> None:
    assert parse_proc_net_tcp(PROC_NET_TCP) == [
        ListeningSocket(address="127.0.1.1", port=9110, inode=4242),
        ListeningSocket(address="0.0.0.0", port=22, inode=99),
    ]


def test_a_real_listener_is_seen_with_its_pid() -> None:
    address = "127.0.9.253"  # not the stack's pod range: tests must not touch live pods
    with socket.socket() as server:
        server.bind((address, 0))
        server.listen()
        assert address in addresses_listened_on("127.0.9.")
        assert address in pids_listening_under("127.0.9.").get(os.getpid(), set())
    assert address not in addresses_listened_on("127.0.9.")


@pytest.mark.parametrize(
    ("occupied", "expected"),
    [
        pytest.param((), "127.0.1.2", id="nothing-occupied"),
        pytest.param(("127.0.1.2",), "127.0.1.3", id="first-address-has-a-foreign-listener"),
        pytest.param(("127.0.1.2", "127.0.1.3", "10.0.0.2"), "127.0.1.4", id="several-and-unrelated"),
    ],
)
def test_allocation_skips_occupied_addresses(occupied: tuple[str, ...], expected: str) -> None:
    assert PodIPPool("127.0.1.").allocate("pod", occupied=occupied) == expected


def test_leftover_pod_processes_are_stopped() -> None:
    """A process still listening on a pod IP after the agent is gone is stopped by `devstack down`."""
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(); s.bind(('127.0.9.252', 0)); s.listen(); print('listening', flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as leftover:
        try:
            assert leftover.stdout is not None and leftover.stdout.readline().strip() == "listening"
            said: list[str] = []
            stop_leftover_pods(prefix="127.0.9.", grace_seconds=5, say=said.append)
            assert leftover.wait(timeout=10) == -signal.SIGTERM
            assert any(str(leftover.pid) in line and "127.0.9.252" in line for line in said)
        finally:
            leftover.kill()

"""Supervisor behaviour with real processes: start-up failures are reported, not half-started."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scorefleet_devstack.processes import Component, StackError, Supervisor, pid_alive


@pytest.fixture
def supervisor(tmp_path: Path) -> Supervisor:
    return Supervisor(pids_dir=tmp_path / "pids", logs_dir=tmp_path / "logs", say=lambda line: None)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_in_use_names_port_and_component(supervisor: Supervisor, busy_port: int) -> None:
    component = Component(name="kafka", argv=["true"], ports=(busy_port,), ready=lambda: True)
    with pytest.raises(StackError, match=rf"port {busy_port} .* already in use; kafka needs it"):
        supervisor.start(component, timeout_seconds=5)
    assert supervisor.running_pid("kafka") is None


def test_component_dying_during_startup_reports_log_tail(supervisor: Supervisor) -> None:
    script = "import sys; [print(f'line {i}') for i in range(40)]; sys.exit(3)"
    component = Component(name="etcd", argv=[sys.executable, "-c", script], ready=lambda: False)
    with pytest.raises(StackError) as error:
        supervisor.start(component, timeout_seconds=10)
    message = str(error.value)
    assert "etcd exited with status 3" in message
    assert "line 39" in message and "line 9\n" not in message


def test_start_is_idempotent_and_stop_ends_the_process(supervisor: Supervisor) -> None:
    component = Component(name="sleeper", argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                          ready=lambda: True)
    supervisor.start(component, timeout_seconds=5)
    pid = supervisor.running_pid("sleeper")
    assert pid is not None
    supervisor.start(component, timeout_seconds=5)
    assert supervisor.running_pid("sleeper") == pid
    assert supervisor.stop("sleeper", grace_seconds=5)
    assert not pid_alive(pid)
    assert not supervisor.stop("sleeper")

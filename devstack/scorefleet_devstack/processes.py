"""Process supervision for the dev stack: start a component detached with a log file and a pid
file, wait for it to be ready with a deadline, stop it by pid (SIGTERM, then SIGKILL).

Used by `stack` for every component; knows nothing about what the components are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path


class StackError(RuntimeError):
    """A component could not be started or did not become ready; the message says which and why."""


@dataclass(frozen=True)
class Component:
    """One supervised process of the stack.

    `argv`/`env` start it; `ports` are loopback TCP ports it binds (each must be free before
    start); `ready` is a probe returning True once it serves; `prepare` runs before the first start
    (config files, storage formatting); `stop_grace_seconds` is the SIGTERM-to-SIGKILL delay."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    ports: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] | None = None
    stop_grace_seconds: float = 15.0


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Supervisor:
    """Starts and stops components, keeping `<pids_dir>/<name>.pid` and `<logs_dir>/<name>.log`."""

    def __init__(self, *, pids_dir: Path, logs_dir: Path, say: Callable[[str], None] = print) -> None:
        self.pids_dir = pids_dir
        self.logs_dir = logs_dir
        self.say = say

    def pid_file(self, name: str) -> Path:
        """Path of a component's pid file."""
        return self.pids_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        """Path of a component's log file."""
        return self.logs_dir / f"{name}.log"

    def running_pid(self, name: str) -> int | None:
        """The pid of a live process started for `name`, or None."""
        path = self.pid_file(name)
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self, component: Component, *, timeout_seconds: float) -> None:
        """Start `component` unless it already runs, then wait until `ready()` within the deadline.

        Raises StackError when a port is taken by something else, when the process exits during
        start-up (with the last 30 lines of its log), or when it is not ready in time."""
        started = time.monotonic()
        if self.running_pid(component.name) is not None:
            if self._wait_ready(component, timeout_seconds=timeout_seconds):
                self.say(f"  {component.name}: already running")
                return
            raise StackError(f"{component.name} runs but is not ready; see {self.log_file(component.name)}")
        for port in component.ports:
            if port_in_use(port):
                raise StackError(f"port {port} on 127.0.0.1 is already in use; {component.name} needs it. "
                                 f"Stop whatever listens there (`ss -ltnp 'sport = :{port}'`) and retry.")
        if component.prepare is not None:
            component.prepare()
        self.pids_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        pid = _spawn_detached(component, log_path=self.log_file(component.name))
        self.pid_file(component.name).write_text(f"{pid}\n")
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            exit_status = _exit_status(pid)
            if exit_status is not None:
                raise StackError(f"{component.name} exited with status {exit_status} during start-up; "
                                 f"last lines of {self.log_file(component.name)}:\n"
                                 f"{log_tail(self.log_file(component.name))}")
            if _probe(component):
                self.say(f"  {component.name}: ready in {time.monotonic() - started:.1f} s (pid {pid})")
                return
            time.sleep(0.25)
        raise StackError(f"{component.name} was not ready within {timeout_seconds:.0f} s; last lines of "
                         f"{self.log_file(component.name)}:\n{log_tail(self.log_file(component.name))}")

    def _wait_ready(self, component: Component, *, timeout_seconds: float) -> bool:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if _probe(component):
                return True
            time.sleep(0.25)
        return False

    def stop(self, name: str, *, grace_seconds: float = 15.0) -> bool:
        """Stop a component's process group: SIGTERM, then SIGKILL after `grace_seconds`.
        Returns True when a process was running. The pid file is removed."""
        pid = self.running_pid(name)
        self.pid_file(name).unlink(missing_ok=True)
        if pid is None:
            return False
        terminate([pid], grace_seconds=grace_seconds)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return True


def _spawn_detached(component: Component, *, log_path: Path) -> int:
    """Start the component in a new session (its own process group), stdout+stderr appended to
    `log_path`, stdin from /dev/null; return its pid. Raises StackError when it cannot be executed."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2), (os.POSIX_SPAWN_CLOSE, fd)]
        argv = component.argv
        executable = argv[0] if "/" in argv[0] else shutil.which(argv[0]) or argv[0]
        try:
            return os.posix_spawn(executable, argv, {**os.environ, **component.env}, file_actions=actions,
                                  setsid=True)
        except OSError as exc:
            raise StackError(f"{component.name} could not be started: {exc} ({executable})") from exc
    finally:
        os.close(fd)


def _exit_status(pid: int) -> int | None:
    """The exit status of our child `pid` if it has exited (reaping it), else None."""
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None if pid_alive(pid) else -1
    if waited == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def _probe(component: Component) -> bool:
    try:
        return component.ready()
    except Exception:
        return False


def terminate(pids: Collection[int], *, grace_seconds: float) -> None:
    """SIGTERM each process's group (and the process), wait up to `grace_seconds` for all of them
    to exit, then SIGKILL the groups of those still alive."""
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)

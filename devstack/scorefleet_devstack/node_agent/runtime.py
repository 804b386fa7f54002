"""Container processes: start under a private mount namespace, poll, signal, adopt (I/O).

Each container run is ``unshare --mount --propagation private -- python -I -m
...mount_wrapper plan.json``; unshare and the wrapper both exec, so the recorded pid is the
container's main process, and it leads its own session/process group, so signalling the group
reaches every process it started. Records (pid + kernel start time) survive an agent restart so
a new agent can adopt or kill the processes without mistaking a reused pid.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .status import exit_code_from_returncode
from .volumes import MountSpec

log = logging.getLogger(__name__)

#: Kubelet reads at most this many bytes of a termination message.
TERMINATION_MESSAGE_MAX_BYTES = 4096
#: FallbackToLogsOnError takes at most this many trailing log lines (kubelet: 80).
FALLBACK_LOG_LINES = 80
#: Exit code the mount wrapper uses when it could not exec the container.
START_ERROR_EXIT_CODE = 128


@dataclass(frozen=True)
class LaunchSpec:
    """What to run and where: argv/env/working dir, mounts, and the run's files on the host."""

    argv: list[str]
    env: dict[str, str]
    working_dir: str
    mounts: list[MountSpec]
    run_dir: Path
    log_path: Path

    @property
    def start_error_path(self) -> Path:
        """File the wrapper writes when it cannot exec the container."""
        return self.run_dir / "start-error"


@dataclass(frozen=True)
class ExitInfo:
    """How a run ended: ``exit_code``, a start error message if it never started, and whether
    the exit code is known (an adopted process's is not: its parent was the previous agent)."""

    exit_code: int
    start_error: str = ""
    known: bool = True


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


class ContainerProcess:
    """One run of a container: a child started by this agent, or a process adopted by pid."""

    def __init__(
        self, pid: int, *, start_ticks: int, started_at: datetime, popen: subprocess.Popen[bytes] | None
    ) -> None:
        self.pid = pid
        self.start_ticks = start_ticks
        self.started_at = started_at
        self._popen = popen

    @classmethod
    def start(cls, spec: LaunchSpec) -> ContainerProcess:
        """Write the wrapper's plan and start the run. Raises ``OSError`` if unshare cannot start."""
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        spec.start_error_path.unlink(missing_ok=True)
        plan = {
            "mounts": [{"source": m.source, "target": m.target, "read_only": m.read_only} for m in spec.mounts],
            "argv": spec.argv,
            "env": spec.env,
            "working_dir": spec.working_dir,
            "start_error_path": str(spec.start_error_path),
        }
        plan_path = spec.run_dir / "plan.json"
        # The plan holds the container's env (possibly secrets): owner-only.
        descriptor = os.open(plan_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as plan_file:
            json.dump(plan, plan_file)
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "ab") as log_file:
            popen = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    sys.executable,
                    "-I",
                    "-m",
                    "scorefleet_devstack.node_agent.mount_wrapper",
                    str(plan_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        ticks = process_start_ticks(popen.pid) or 0
        return cls(popen.pid, start_ticks=ticks, started_at=datetime.now(UTC), popen=popen)

    @classmethod
    def adopt(cls, record: dict[str, Any]) -> ContainerProcess | None:
        """The process of a record written by ``to_record``, if that very process still runs."""
        pid = int(record["pid"])
        if process_start_ticks(pid) != int(record["start_ticks"]):
            return None
        started_at = datetime.fromisoformat(record["started_at"])
        return cls(pid, start_ticks=int(record["start_ticks"]), started_at=started_at, popen=None)

    def to_record(self) -> dict[str, Any]:
        """JSON-able identity of this run, for ``adopt`` after an agent restart."""
        return {"pid": self.pid, "start_ticks": self.start_ticks, "started_at": self.started_at.isoformat()}

    def poll(self, *, start_error_path: Path | None = None) -> ExitInfo | None:
        """None while running; else how it ended. Also kills leftovers of its process group."""
        if self._popen is not None:
            returncode = self._popen.poll()
            if returncode is None:
                return None
            exit_code = exit_code_from_returncode(returncode)
            known = True
        else:
            if process_start_ticks(self.pid) == self.start_ticks:
                return None
            exit_code, known = 137, False
        self.signal_group(signal.SIGKILL)
        start_error = ""
        if exit_code == START_ERROR_EXIT_CODE and start_error_path is not None and start_error_path.exists():
            start_error = start_error_path.read_text(errors="replace").strip()
        return ExitInfo(exit_code=exit_code, start_error=start_error, known=known)

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the run's process group; a group that is already gone is fine."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            log.warning("not permitted to signal process group %s", self.pid)


def container_log_path(pod_dir: Path, *, container: str, attempt: int) -> Path:
    """Log file of one run of a container: ``<pod dir>/logs/<container>/<attempt>.log``, where
    ``attempt`` is the restartCount of that run (kubelet's /var/log/pods layout)."""
    return pod_dir / "logs" / container / f"{attempt}.log"


def container_log_paths(pod_dir: Path, *, container: str) -> list[Path]:
    """The container's run logs, oldest first (empty if it never ran)."""
    return sorted((pod_dir / "logs" / container).glob("*.log"), key=lambda path: int(path.stem))


def termination_message(*, message_path: Path, log_path: Path, fallback_to_logs: bool, exit_code: int) -> str:
    """The container's termination message, as kubelet reads it.

    The file at ``message_path`` (the container's terminationMessagePath), at most 4096 bytes;
    with policy FallbackToLogsOnError, an empty file and a non-zero ``exit_code``, the last 80
    lines of the container log instead (also capped at 4096 bytes).
    """
    try:
        with open(message_path, "rb") as message_file:
            message = message_file.read(TERMINATION_MESSAGE_MAX_BYTES).decode(errors="replace")
    except OSError:
        message = ""
    if message.strip() or not fallback_to_logs or exit_code == 0:
        return message
    try:
        with open(log_path, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            size = log_file.tell()
            log_file.seek(max(0, size - 64 * 1024))
            lines = log_file.read().decode(errors="replace").splitlines()[-FALLBACK_LOG_LINES:]
    except OSError:
        return ""
    return "\n".join(lines)[-TERMINATION_MESSAGE_MAX_BYTES:]

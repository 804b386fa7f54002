"""Container probes: parsing (pure), threshold bookkeeping (pure) and running them (I/O).

Semantics follow kubelet's prober: a probe first runs ``initialDelaySeconds`` after the
container starts, then every ``periodSeconds``; a result flips only after ``successThreshold``
consecutive successes or ``failureThreshold`` consecutive failures. HTTP succeeds on a status
in [200, 400); exec succeeds on exit code 0 and runs inside the container's mount namespace.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class ProbeKind(StrEnum):
    """Which handler a probe uses."""

    HTTP_GET = "httpGet"
    TCP_SOCKET = "tcpSocket"
    EXEC = "exec"
    GRPC = "grpc"


@dataclass(frozen=True)
class ProbeSpec:
    """A parsed probe. ``port`` is resolved to a number; ``host`` defaults to the pod IP."""

    kind: ProbeKind
    initial_delay_seconds: float = 0.0
    period_seconds: float = 10.0
    timeout_seconds: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    host: str = ""
    port: int = 0
    path: str = "/"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()


def resolve_port(port: int | str, *, container: Mapping[str, Any]) -> int:
    """A probe port as a number: an int as is, a name via the container's ``ports[].name``.

    Raises ``ValueError`` naming the port when the name is not declared.
    """
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"probe port {port!r} is not a number nor a named port of container {container.get('name')!r}")


def parse_probe(probe: Mapping[str, Any], *, container: Mapping[str, Any], pod_ip: str) -> ProbeSpec:
    """A ``ProbeSpec`` from a pod-spec probe dict. Raises ``ValueError`` for a bad port or no handler."""
    timed = ProbeSpec(
        ProbeKind.EXEC,
        initial_delay_seconds=float(probe.get("initialDelaySeconds", 0)),
        period_seconds=float(probe.get("periodSeconds", 10)),
        timeout_seconds=float(probe.get("timeoutSeconds", 1)),
        success_threshold=int(probe.get("successThreshold", 1)),
        failure_threshold=int(probe.get("failureThreshold", 3)),
    )
    if "httpGet" in probe:
        handler = probe["httpGet"]
        return replace(
            timed,
            kind=ProbeKind.HTTP_GET,
            host=handler.get("host") or pod_ip,
            port=resolve_port(handler["port"], container=container),
            path=handler.get("path", "/"),
            scheme=handler.get("scheme", "HTTP"),
            headers=tuple((h["name"], h["value"]) for h in handler.get("httpHeaders") or []),
        )
    if "tcpSocket" in probe:
        handler = probe["tcpSocket"]
        return replace(
            timed,
            kind=ProbeKind.TCP_SOCKET,
            host=handler.get("host") or pod_ip,
            port=resolve_port(handler["port"], container=container),
        )
    if "exec" in probe:
        return replace(timed, command=tuple(probe["exec"].get("command") or ()))
    if "grpc" in probe:
        return replace(timed, kind=ProbeKind.GRPC, host=pod_ip, port=int(probe["grpc"]["port"]))
    raise ValueError(f"probe {dict(probe)} has no handler (httpGet, tcpSocket, exec or grpc)")


@dataclass
class ProbeTracker:
    """Consecutive-result bookkeeping for one probe of one container run.

    ``result`` starts at ``initial`` (False for readiness/startup, True for liveness) and flips
    per the thresholds; ``next_due`` is in monotonic seconds.
    """

    spec: ProbeSpec
    started_monotonic: float
    initial: bool
    result: bool = field(init=False)
    successes: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)
    next_due: float = field(init=False)
    last_message: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.result = self.initial
        self.next_due = self.started_monotonic + self.spec.initial_delay_seconds

    def due(self, now_monotonic: float) -> bool:
        """Whether the probe should run at ``now_monotonic``."""
        return now_monotonic >= self.next_due

    def record(self, success: bool, *, now_monotonic: float, message: str = "") -> bool:
        """Record one outcome; schedules the next run. Returns the (possibly flipped) result."""
        self.next_due = now_monotonic + self.spec.period_seconds
        self.last_message = message
        if success:
            self.successes += 1
            self.failures = 0
            if self.successes >= self.spec.success_threshold:
                self.result = True
        else:
            self.failures += 1
            self.successes = 0
            if self.failures >= self.spec.failure_threshold:
                self.result = False
        return self.result


def run_probe(spec: ProbeSpec, *, pid: int, env: Mapping[str, str]) -> tuple[bool, str]:
    """Run ``spec`` once against the container whose main process is ``pid``.

    Returns (success, message); never raises (every failure is a probe failure with a message).
    """
    try:
        if spec.kind is ProbeKind.HTTP_GET:
            return _http_get(spec)
        if spec.kind in (ProbeKind.TCP_SOCKET, ProbeKind.GRPC):
            # grpc health checking would need a gRPC client; a TCP connect is the cheap stand-in.
            with socket.create_connection((spec.host, spec.port), timeout=spec.timeout_seconds):
                return True, ""
        return _exec(spec.command, pid=pid, env=env, timeout_seconds=spec.timeout_seconds)
    except (OSError, http.client.HTTPException, subprocess.SubprocessError) as error:
        return False, f"{spec.kind} probe failed: {error}"


def _http_get(spec: ProbeSpec) -> tuple[bool, str]:
    connection: http.client.HTTPConnection
    if spec.scheme.upper() == "HTTPS":
        connection = http.client.HTTPSConnection(
            spec.host, spec.port, timeout=spec.timeout_seconds, context=ssl._create_unverified_context()
        )
    else:
        connection = http.client.HTTPConnection(spec.host, spec.port, timeout=spec.timeout_seconds)
    try:
        connection.request("GET", spec.path, headers=dict(spec.headers))
        response = connection.getresponse()
        response.read(10240)
    finally:
        connection.close()
    if 200 <= response.status < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {response.status}"


def _exec(command: Sequence[str], *, pid: int, env: Mapping[str, str], timeout_seconds: float) -> tuple[bool, str]:
    if not command:
        return False, "exec probe has an empty command"
    completed = subprocess.run(
        ["nsenter", f"--target={pid}", "--mount", "--", *command],
        env=dict(env),
        capture_output=True,
        timeout=timeout_seconds,
        check=False,
    )
    if completed.returncode == 0:
        return True, ""
    output = (completed.stdout + completed.stderr).decode(errors="replace")[-1024:]
    return False, f"exec probe exited with {completed.returncode}: {output}"

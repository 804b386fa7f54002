"""The scorer's HTTP endpoints on SCORER_HTTP_HOST:SCORER_HTTP_PORT, served from a daemon thread.

- ``/metrics``: Prometheus exposition of the scorer's registry (prometheus-client's WSGI app).
- ``/healthz``: 200 while the consume loop is alive (it ticked within ``liveness_timeout_seconds``).
- ``/readyz``: 200 once the model is loaded and warmed and the consumer has joined its group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app


@dataclass
class HealthState:
    """Liveness and readiness facts, written by the loop thread and read by the HTTP thread."""

    liveness_timeout_seconds: float = 60.0
    model_ready: bool = False
    consumer_joined: bool = False
    stopping: bool = False
    loop_started: bool = False
    last_tick_monotonic: float = field(default_factory=time.monotonic)

    def tick(self) -> None:
        """Record that the loop made progress (call once per loop iteration, and per record when slow)."""
        self.loop_started = True
        self.last_tick_monotonic = time.monotonic()

    def alive(self) -> bool:
        """The loop ticked recently; always true before the loop starts.

        Start-up (model fetch with its own retries and timeouts, then warm-up) is readiness's
        concern: a liveness failure there would only restart a fetch that is still progressing.
        """
        if not self.loop_started:
            return True
        return time.monotonic() - self.last_tick_monotonic < self.liveness_timeout_seconds

    def ready(self) -> bool:
        """Model warmed, consumer joined, not shutting down."""
        return self.model_ready and self.consumer_joined and not self.stopping


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probe and scrape requests are not worth a log line each."""


def make_app(registry: CollectorRegistry, health: HealthState) -> Callable[..., Iterable[bytes]]:
    """The WSGI app serving /metrics, /healthz and /readyz."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path in ("/healthz", "/readyz"):
            ok = health.alive() if path == "/healthz" else health.ready()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n" if ok else b"not ready\n" if path == "/readyz" else b"loop stalled\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]

    return app


class ProbeServer:
    """/metrics, /healthz and /readyz on ``host:port`` in a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, *, host: str, port: int, registry: CollectorRegistry, health: HealthState) -> None:
        self._server = make_server(host, port, make_app(registry, health), _ThreadingWSGIServer, _QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="probe-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

"""The kubelet API's read-only corner, so ``kubectl logs`` works against the dev node.

The apiserver proxies ``pods/log`` to ``https://<node InternalIP>:<kubeletEndpoint.Port>/
containerLogs/<namespace>/<pod>/<container>``. This server answers that (query ``follow``,
``previous``, ``tailLines``, ``limitBytes``) and ``/healthz`` from the per-run log files under the
state directory. It serves TLS with a self-signed certificate (the dev apiserver does not verify
kubelet certificates) and binds loopback only; it does not authenticate callers.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .runtime import ContainerProcess, container_log_paths
from .settings import AgentSettings

log = logging.getLogger(__name__)

FOLLOW_POLL_SECONDS = 0.2
TAIL_WINDOW_BYTES = 4 * 1024 * 1024


def ensure_serving_certificate(directory: Path, *, node_name: str, host_ip: str) -> tuple[Path, Path]:
    """A self-signed serving certificate and key (PEM) in ``directory``, created on first use.

    Returns (certificate path, key path). Valid one year for DNS ``node_name`` and IP ``host_ip``.
    """
    certificate_path, key_path = directory / "kubelet.crt", directory / "kubelet.key"
    if certificate_path.exists() and key_path.exists():
        return certificate_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@node-agent")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address(host_ip))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate_path, key_path


def find_pod_dir(pods_dir: Path, *, namespace: str, name: str) -> tuple[Path, dict[str, Any]] | None:
    """The directory and state record of the pod ``namespace/name`` on this node, if it runs here."""
    for state_path in pods_dir.glob("*/state.json"):
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            continue
        if state.get("namespace") == namespace and state.get("name") == name:
            return state_path.parent, state
    return None


def tail_lines(data: bytes, *, count: int) -> bytes:
    """The last ``count`` lines of ``data`` (a trailing newline does not start a new line)."""
    if count <= 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:])


class _LogHandler(BaseHTTPRequestHandler):
    server: KubeletServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kubelet api: " + format, *args)

    def _reply(self, code: int, *, body: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/healthz":
            self._reply(200, body="ok")
        elif len(parts) == 4 and parts[0] == "containerLogs":
            self._container_logs(
                parts[1], pod=parts[2], container=parts[3], query={k: v[-1] for k, v in parse_qs(url.query).items()}
            )
        else:
            self._reply(404, body=f"the scorefleet node agent does not serve {url.path}")

    def _container_logs(self, namespace: str, *, pod: str, container: str, query: dict[str, str]) -> None:
        found = find_pod_dir(self.server.pods_dir, namespace=namespace, name=pod)
        if found is None:
            self._reply(404, body=f"pod {namespace}/{pod} is not running on this node")
            return
        pod_dir, state = found
        record = state.get("containers", {}).get(container)
        running = ContainerProcess.adopt(record) if record else None
        previous = query.get("previous") == "true"
        runs = container_log_paths(pod_dir, container=container)
        if previous and running is not None:
            # As kubelet: "previous" is the run before the live one; while the container is
            # waiting (crash-loop back-off) both "current" and "previous" mean the last run.
            runs = runs[:-1]
        if not runs:
            what = "previous terminated container" if previous else "container"
            self._reply(400, body=f'{what} "{container}" in pod "{pod}" not found')
            return
        path = runs[-1]
        with open(path, "rb") as log_file:
            log_file.seek(0, 2)
            size = log_file.tell()
            log_file.seek(max(0, size - TAIL_WINDOW_BYTES) if "tailLines" in query else 0)
            data = log_file.read()
        if "tailLines" in query:
            data = tail_lines(data, count=int(query["tailLines"]))
        if "limitBytes" in query:
            data = data[: int(query["limitBytes"])]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(data)
        if query.get("follow") == "true" and not previous and running is not None:
            self._follow(path, offset=size, process=running)

    def _follow(self, path: Path, *, offset: int, process: ContainerProcess) -> None:
        """Stream what the run appends until it exits or the client goes away."""
        with open(path, "rb") as log_file:
            log_file.seek(offset)
            while True:
                chunk = log_file.read(65536)
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    continue
                if process.poll() is not None or not path.exists():
                    return
                time.sleep(FOLLOW_POLL_SECONDS)


class KubeletServer(ThreadingHTTPServer):
    """HTTPS server for ``containerLogs`` and ``healthz`` on ``host_ip:kubelet_port``."""

    daemon_threads = True

    def __init__(self, settings: AgentSettings) -> None:
        super().__init__((settings.host_ip, settings.kubelet_port), _LogHandler)
        self.pods_dir = settings.pods_dir
        certificate, key = ensure_serving_certificate(
            settings.state_dir / "kubelet-server", node_name=settings.node_name, host_ip=settings.host_ip
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def start(self) -> None:
        """Serve on a daemon thread until ``shutdown``."""
        threading.Thread(target=self.serve_forever, name="kubelet-api", daemon=True).start()
        log.info("kubelet API (logs, healthz) on https://%s:%s", *self.server_address[:2])

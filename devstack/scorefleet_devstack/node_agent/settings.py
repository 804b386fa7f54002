"""Node agent settings, parsed once at start-up from the command line and the image map file."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

#: PATH inside containers: the project's virtualenv first (it plays the image's installed
#: software, so ``python`` has the project's dependencies), then the usual system directories.
CONTAINER_PATH = f"{Path(sys.prefix) / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def default_image_map() -> dict[str, list[str]]:
    """Built-in image-name-substring -> command entries: the project's console scripts in its venv."""
    bin_dir = Path(sys.prefix) / "bin"
    return {
        "scorefleet-scorer": [str(bin_dir / "scorefleet-scorer")],
        "scorefleet-operator": [str(bin_dir / "scorefleet-operator")],
    }


def load_image_map(path: Path) -> dict[str, list[str]]:
    """The built-in image map updated with the entries of the JSON/YAML file at ``path``.

    The file maps image-name substrings to a command (a list, or a string split like a shell
    would). A missing file leaves the defaults (logged). Raises ``ValueError`` for a file that
    is not such a mapping.
    """
    image_map = default_image_map()
    if not path.exists():
        log.info("image map %s does not exist; using the built-in map %s", path, image_map)
        return image_map
    loaded = (
        yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text() or "{}")
    )
    if not isinstance(loaded, Mapping):
        raise ValueError(
            f"image map {path}: expected a mapping of image substring -> command, got {type(loaded).__name__}"
        )
    for key, command in loaded.items():
        argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
        if not argv:
            raise ValueError(f"image map {path}: entry {key!r} has an empty command")
        image_map[str(key)] = argv
    return image_map


POD_IP_PREFIX = "127.0.1."
"""Default loopback /24 of pod IPs (all of 127.0.0.0/8 is loopback on Linux)."""


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent is configured with."""

    kubeconfig: Path
    """Admin kubeconfig the agent talks to the apiserver with."""
    state_dir: Path
    """Root of the agent's state: per-pod directories (volumes, logs, pid records)."""
    node_name: str
    """Name of the Node the agent registers and whose pods it runs."""
    apiserver_host: str
    """KUBERNETES_SERVICE_HOST given to containers."""
    apiserver_port: int
    """KUBERNETES_SERVICE_PORT given to containers."""
    pod_ip_prefix: str = POD_IP_PREFIX
    """Pod IPs are ``<prefix>2`` .. ``<prefix>254``."""
    kubelet_port: int = 10250
    """Port of the kubelet-API server (``kubectl logs``, ``/healthz``) on ``host_ip``."""
    host_ip: str = "127.0.0.1"
    """The node's InternalIP and every pod's hostIP."""
    image_map: Mapping[str, list[str]] = field(default_factory=default_image_map)
    """Image-name substring -> command, for containers without ``command``."""

    @property
    def pods_dir(self) -> Path:
        """Directory holding one subdirectory per pod UID."""
        return self.state_dir / "pods"

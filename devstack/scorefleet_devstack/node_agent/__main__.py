"""Command line of the node agent (the lead's ``devstack up`` runs it as a supervised process).

``python -m scorefleet_devstack.node_agent --kubeconfig PATH --state-dir DIR --node-name NAME
--image-map PATH --apiserver-host HOST --apiserver-port PORT [--pod-ip-prefix 127.0.1.]
[--kubelet-port 10250]``.
Logs go to stdout. SIGTERM/SIGINT stop every pod process and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from .agent import NodeAgent
from .settings import AgentSettings, load_image_map

log = logging.getLogger(__name__)


def parse_settings(argv: list[str]) -> AgentSettings:
    """``AgentSettings`` from command-line ``argv``; exits 2 with usage on bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m scorefleet_devstack.node_agent", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path, help="admin kubeconfig")
    parser.add_argument("--state-dir", required=True, type=Path, help="agent state (pod dirs, logs, pids)")
    parser.add_argument("--node-name", required=True, help="Node to register and serve")
    parser.add_argument("--image-map", required=True, type=Path, help="JSON/YAML image substring -> command")
    parser.add_argument("--apiserver-host", required=True, help="KUBERNETES_SERVICE_HOST for containers")
    parser.add_argument("--apiserver-port", required=True, type=int, help="KUBERNETES_SERVICE_PORT for containers")
    parser.add_argument("--pod-ip-prefix", default="127.0.1.", help="pod IPs are PREFIX2..PREFIX254")
    parser.add_argument("--kubelet-port", default=10250, type=int, help="kubelet API port (kubectl logs, /healthz)")
    args = parser.parse_args(argv)
    try:
        image_map = load_image_map(args.image_map)
    except ValueError as error:
        parser.error(str(error))
    return AgentSettings(
        kubeconfig=args.kubeconfig.resolve(),
        state_dir=args.state_dir.resolve(),
        node_name=args.node_name,
        apiserver_host=args.apiserver_host,
        apiserver_port=args.apiserver_port,
        pod_ip_prefix=args.pod_ip_prefix,
        kubelet_port=args.kubelet_port,
        image_map=image_map,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the agent until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
    )
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    agent = NodeAgent(settings)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s; stopping pods and exiting", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("node agent for node %s starting (state %s)", settings.node_name, settings.state_dir)
    agent.run()


if __name__ == "__main__":
    main()

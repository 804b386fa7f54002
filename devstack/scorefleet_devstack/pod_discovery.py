"""Prometheus target discovery for the dev stack's pods, through a file Prometheus watches.

Debian's Prometheus is built without Kubernetes service discovery, so this process stands in for
`kubernetes_sd_configs` role `pod`: it lists pods from the apiserver every `--interval-seconds`,
keeps the Running ones annotated `prometheus.io/scrape: "true"` with a pod IP, and writes them to a
`file_sd_configs` JSON file (atomically, only when it changes) with the same relabelled labels a
Kubernetes SD job would produce: `namespace`, `pod`, and `app_kubernetes_io_*` from pod labels.
The target is `<podIP>:<prometheus.io/port>`; `prometheus.io/path` sets `__metrics_path__`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

log = logging.getLogger(__name__)


def scrape_targets(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """file_sd target groups for `pods` (API dicts, as from `list_pod_for_all_namespaces`).

    Returns `[{"targets": ["ip:port"], "labels": {...}}]` sorted by namespace/pod, one per pod that
    is Running, has a pod IP, and is annotated for scraping with a numeric port."""
    groups = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        annotations = meta.get("annotations") or {}
        port = annotations.get("prometheus.io/port", "")
        if annotations.get("prometheus.io/scrape") != "true" or not port.isdigit():
            continue
        if status.get("phase") != "Running" or not status.get("podIP"):
            continue
        labels = {"namespace": meta.get("namespace", ""), "pod": meta.get("name", "")}
        for key, value in (meta.get("labels") or {}).items():
            if key.startswith("app.kubernetes.io/"):
                labels["app_kubernetes_io_" + re.sub(r"[^a-zA-Z0-9_]", "_", key.split("/", 1)[1])] = value
        if annotations.get("prometheus.io/path"):
            labels["__metrics_path__"] = annotations["prometheus.io/path"]
        groups.append({"targets": [f"{status['podIP']}:{port}"], "labels": labels})
    return sorted(groups, key=lambda g: (g["labels"]["namespace"], g["labels"]["pod"]))


def write_if_changed(path: Path, groups: list[dict[str, Any]]) -> bool:
    """Write `groups` as JSON to `path` atomically (rename) when the content differs; True if written."""
    text = json.dumps(groups, indent=1, sort_keys=True)
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def main(argv: list[str] | None = None) -> None:
    """`python -m scorefleet_devstack.pod_discovery --kubeconfig K --output FILE [--interval-seconds 2]`."""
    parser = argparse.ArgumentParser(description="Write Prometheus file_sd targets for annotated pods.")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--interval-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    api_client = k8s_config.new_client_from_config(config_file=args.kubeconfig)
    api = k8s.CoreV1Api(api_client)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(args.output, [])
    while True:
        try:
            pods = api.list_pod_for_all_namespaces(_request_timeout=10)
            groups = scrape_targets([api_client.sanitize_for_serialization(pod) for pod in pods.items])
            if write_if_changed(args.output, groups):
                log.info("%d scrape targets", len(groups))
        except Exception as exc:
            log.warning("listing pods failed, keeping the last targets: %s", exc)
        time.sleep(args.interval_seconds)


if __name__ == "__main__":
    main()

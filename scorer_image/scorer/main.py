"""Command line of the scorer image: ``scorefleet-scorer [run|train|generate|schema]``.

- ``run`` (the default, what the pod runs): settings from ``SCORER_*``, fetch and verify the
  model, warm it up, serve /metrics /healthz /readyz, consume until SIGTERM/SIGINT. A fatal
  start-up error (bad settings, sha256 mismatch) is written to the termination log and exits 1.
- ``train --out DIR``: build the default model; last line is JSON {path, sha256, name, version, ...}.
- ``generate --count N [--seed S] [--raw] [--topic T --bootstrap-servers B]``: seeded events as
  JSON lines on stdout, or produced to a topic.
- ``schema --out DIR``: write the JSON Schemas of input and output.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import orjson
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from scorer.artifacts import ModelArtifactError, fetch_artifact
from scorer.http_server import HealthState, ProbeServer
from scorer.logs import configure_logging
from scorer.metrics import ScorerMetrics
from scorer.model import load_model, warm_up
from scorer.schemas import write_schemas
from scorer.settings import LogFormat, ScorerSettings

logger = logging.getLogger("scorer")


def write_termination_message(path: Path, message: str) -> None:
    """Write why the process is exiting where Kubernetes reads it (best effort: the path may not exist)."""
    with contextlib.suppress(OSError):
        path.write_text(message[:4000])


def run(settings: ScorerSettings) -> int:
    """Serve until SIGTERM/SIGINT. Returns the exit code (0 after a clean drain, 1 on a start-up error)."""
    from scorer.service import ScorerService  # imports confluent-kafka only where it is needed

    missing = settings.missing_for_serving()
    if missing:
        message = f"missing settings: {', '.join(missing)} (the operator renders them from spec.model)"
        logger.error(message)
        write_termination_message(settings.termination_log_path, message)
        return 1
    registry = CollectorRegistry()
    metrics = ScorerMetrics(registry)
    health = HealthState()
    try:
        server = ProbeServer(host=settings.http_host, port=settings.http_port, registry=registry, health=health)
    except OSError as error:
        address = f"{settings.http_host}:{settings.http_port}"
        message = f"cannot serve probes on SCORER_HTTP_HOST:SCORER_HTTP_PORT {address}: {error}"
        logger.error(message)
        write_termination_message(settings.termination_log_path, message)
        return 1
    server.start()
    logger.info("probe server listening", extra={"host": settings.http_host, "port": server.port})
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        path = fetch_artifact(settings.model_uri, sha256=settings.model_sha256, cache_dir=settings.model_cache_dir)
        model = load_model(path)
        warm_up(model)
    except (ModelArtifactError, OSError) as error:
        logger.error("model not loaded", extra={"error": str(error)})
        write_termination_message(settings.termination_log_path, str(error))
        server.stop()
        return 1
    metrics.model_info.labels(settings.model_name, settings.model_version, settings.model_sha256).set(1)
    # Everything allocated so far (libraries, model) lives for the whole process: keep it out of the
    # cyclic collector's scans, so full collections on the hot path stay short (latency tail).
    gc.freeze()
    health.model_ready = True
    logger.info(
        "model loaded and warmed", extra={"model_name": settings.model_name, "model_version": settings.model_version}
    )
    try:
        ScorerService(settings, model=model, metrics=metrics, health=health).run(stop)
    finally:
        server.stop()
    return 0


def _train(args: argparse.Namespace) -> int:
    from scorer.training import train_default_model

    report = train_default_model(args.out, events=args.events, seed=args.seed, name=args.name, version=args.version)
    print(
        f"held-out precision {report.precision:.4f} recall {report.recall:.4f} "
        f"({report.train_events} train / {report.test_events} test events)",
        file=sys.stderr,
        flush=True,
    )
    print(
        orjson.dumps(
            {
                "path": str(report.path),
                "sha256": report.sha256,
                "name": report.name,
                "version": report.version,
                "precision": round(report.precision, 4),
                "recall": round(report.recall, 4),
            }
        ).decode()
    )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from scorer.generator import generate_events
    from scorer.loadgen import encode_event, produce_generated

    if args.topic:
        produced = produce_generated(
            bootstrap_servers=args.bootstrap_servers, topic=args.topic, count=args.count, seed=args.seed, raw=args.raw
        )
        print(orjson.dumps({"topic": args.topic, "produced": produced, "raw": args.raw}).decode())
        return 0
    out = sys.stdout.buffer
    for labelled in generate_events(args.count, seed=args.seed):
        if args.raw:
            value, _ = encode_event(labelled.event, raw=True)
            out.write(value + b"\n\n")
        else:
            out.write(orjson.dumps({**labelled.event, "_label": labelled.label, "_kind": labelled.kind.value}) + b"\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorefleet-scorer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="consume, score and produce (default; settings from SCORER_* env)")
    train = commands.add_parser("train", help="build the default model artifact (ONNX)")
    train.add_argument("--out", type=Path, required=True, help="directory for <name>-<version>.onnx")
    train.add_argument("--events", type=int, default=20_000, help="generated events to train and test on")
    train.add_argument("--seed", type=int, default=7)
    train.add_argument("--name", default="phishing-linear")
    train.add_argument("--version", default="2026.11.1")
    generate = commands.add_parser("generate", help="seeded labelled email events")
    generate.add_argument("--count", type=int, default=1000)
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--raw", action="store_true", help="raw RFC 5322 messages instead of JSON events")
    generate.add_argument("--topic", default="", help="produce to this Kafka topic instead of stdout")
    generate.add_argument("--bootstrap-servers", default="127.0.0.1:19092")
    schema = commands.add_parser("schema", help="write the JSON Schemas of input and output")
    schema.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console script entry point (``scorefleet-scorer``); returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command in ("train", "generate", "schema"):
        configure_logging(LogFormat.TEXT, level=logging.WARNING)
        if args.command == "train":
            return _train(args)
        if args.command == "generate":
            return _generate(args)
        for path in write_schemas(args.out):
            print(path)
        return 0
    try:
        settings = ScorerSettings()
    except ValidationError as error:
        configure_logging(LogFormat.JSON)
        message = f"invalid settings: {error}"
        logger.error(message)
        write_termination_message(Path("/dev/termination-log"), message)
        return 1
    configure_logging(settings.log_format, pod_name=settings.pod_name, pod_namespace=settings.pod_namespace)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())

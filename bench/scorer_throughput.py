"""Scorer throughput and latency on the dev stack's broker, against a pass-through and a naive loop.

For each mode (JSON events, raw RFC 5322 messages):

1. pre-fill an input topic with ``--count`` (JSON) / ``--raw-count`` (raw) generated records;
2. run, one after the other on that same topic, each as its own process with its own group (and
   its own session, hence its own scheduling group, as a pod has its own cgroup):
   - the scorer (``scorefleet-scorer``, default batch settings),
   - a pass-through consumer: the same pipelined consume -> produce -> commit-acknowledged loop
     with the scorer's own client settings (scorer.kafka_config)
     (confluent-kafka, idempotent producer, acks=all) that does no decoding or scoring,
   - a naive loop: poll one record, score it, produce it, wait for the ack, commit, repeat
     (on the first ``--naive-count`` records only: it is slow);
   rates are records / (last output timestamp - first output timestamp), read from the output topics;
3. latency: a fresh scorer on a fresh topic while records are produced (lz4, as in the pre-fill) at
   half the measured scorer rate for ``--latency-warmup-seconds`` and then ``--latency-seconds``;
   latency = output record timestamp - input record timestamp, p50/p99 over the records after the
   warm-up (steady state; the first ~1-2 s on a brand-new topic carry a start-up transient,
   reported apart as ``latency_warmup_p99_ms``).

Prints one JSON line per mode and a final JSON line with both. Nothing is asserted.

    .venv/bin/python bench/scorer_throughput.py --count 200000 --raw-count 20000
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from scorer.features import feature_matrix
from scorer.generator import generate_events
from scorer.kafka_config import consumer_config, producer_config
from scorer.loadgen import encode_event
from scorer.settings import OffsetResetPolicy, ScorerSettings
from scorer.training import TrainingReport, train_default_model

REPO = Path(__file__).resolve().parents[1]
# Both producers of input records compress as an upstream producer of mail would: the maximum rate
# is measured on lz4 batches, so half of it is produced the same way (uncompressed, the paced
# phase pushed ~2.5x the bytes of the pre-fill through the broker beside the scorer).
INPUT_COMPRESSION = "lz4"
SCORER_BIN = REPO / ".venv" / "bin" / "scorefleet-scorer"


# -- topics and records --


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    ).values():
        future.result(30)


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.exception(30)


def encoded_records(count: int, *, raw: bool, seed: int) -> list[tuple[bytes, bytes, Any]]:
    """(key, value, headers) of ``count`` generated events; generated before timing starts."""
    records = []
    for labelled in generate_events(count, seed=seed):
        value, headers = encode_event(labelled.event, raw=raw)
        records.append((labelled.event["message_id"].encode(), value, headers))
    return records


def prefill(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, Any]]) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": INPUT_COMPRESSION,
            "enable.idempotence": True,
        }
    )
    for key, value, headers in records:
        while True:
            try:
                producer.produce(topic, value, key, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(120) == 0


def paced_produce(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes, Any]], rate: float, *, warmup_topic: str
) -> float:
    """Produce at ``rate`` records/s (in 10 ms steps); returns the achieved rate."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "compression.type": INPUT_COMPRESSION}
    )
    # Warm the producer up (connection, idempotent producer id, the topic's partition leaders) so
    # its start-up is not counted as latency: records wait in the producer until it knows them.
    producer.produce(warmup_topic, b"warm-up")
    assert producer.flush(30) == 0
    producer.list_topics(topic, timeout=30)
    # A cyclic-GC pass over this process's hundreds of thousands of pre-built records would stall
    # the stream for tenths of a second and then release a burst: pace without the collector.
    gc.disable()
    try:
        started = time.perf_counter()
        for index, (key, value, headers) in enumerate(records):
            due = started + index / rate
            delay = due - time.perf_counter()
            if delay > 0.01:
                producer.poll(delay)
            producer.produce(topic, value, key, headers=headers)
            producer.poll(0)
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    assert producer.flush(60) == 0
    return len(records) / elapsed


def read_timestamps(bootstrap: str, topic: str, partitions: int) -> dict[bytes, int]:
    """key -> Kafka timestamp (ms) of the first record with that key, read to the end of every partition."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-read-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    wanted = {p: end for p, end in ends.items() if end > 0}
    consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
    stamps: dict[bytes, int] = {}
    positions = dict.fromkeys(wanted, 0)
    while any(positions[p] < wanted[p] for p in wanted):
        for message in consumer.consume(5000, 1.0):
            partition, offset = message.partition(), message.offset()
            if message.error() is None and partition is not None and offset is not None:
                stamps.setdefault(message.key() or b"", message.timestamp()[1])
                positions[partition] = offset + 1
    consumer.close()
    return stamps


COORDINATOR_NOT_READY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Offsets committed by ``group`` on ``topic``, summed; 0 while the broker answers with a
    retriable error (a group coordinator still loading on a fresh broker: NOT_COORDINATOR)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    except KafkaException as error:
        if not (error.args[0].retriable() or error.args[0].code() in COORDINATOR_NOT_READY):
            raise
        return 0
    finally:
        consumer.close()
    return sum(max(0, tp.offset) for tp in committed)


def wait_committed(bootstrap: str, group: str, topic: str, partitions: int, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while committed_total(bootstrap, group, topic, partitions) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} did not commit {target} records of {topic} in {timeout} s")
        time.sleep(0.5)


def rate_from_outputs(stamps: dict[bytes, int]) -> float:
    values = np.fromiter(stamps.values(), dtype=np.int64)
    span_seconds = max(1e-3, (values.max() - values.min()) / 1000.0)
    return len(values) / span_seconds


# -- the three consumers, each run as its own process --


def scorer_env(
    bootstrap: str, *, source: str, sink: str, group: str, model: dict[str, str], port: int, cache: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
    env.update(
        {
            "SCORER_BOOTSTRAP_SERVERS": bootstrap,
            "SCORER_INPUT_TOPIC": source,
            "SCORER_OUTPUT_TOPIC": sink,
            "SCORER_DEAD_LETTER_TOPIC": sink + ".dlq",
            "SCORER_CONSUMER_GROUP": group,
            "SCORER_OFFSET_RESET_POLICY": "earliest",
            "SCORER_MODEL_NAME": model["name"],
            "SCORER_MODEL_VERSION": model["version"],
            "SCORER_MODEL_URI": Path(model["path"]).as_uri(),
            "SCORER_MODEL_SHA256": model["sha256"],
            "SCORER_MODEL_CACHE_DIR": cache,
            "SCORER_HTTP_HOST": "127.0.0.1",
            "SCORER_HTTP_PORT": str(port),
            "SCORER_LOG_FORMAT": "json",
            "SCORER_TERMINATION_LOG_PATH": cache + "/term",
        }
    )
    return env


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("scorer not ready")


def role_passthrough(bootstrap: str, source: str, sink: str, group: str) -> None:
    """Consume -> produce unchanged -> commit acknowledged offsets, pipelined like the scorer, no scoring."""
    from scorer.offsets import OffsetTracker

    tracker = OffsetTracker()
    # The scorer's own client settings (same fetch, batching and delivery guarantees), minus scoring.
    settings = ScorerSettings(
        bootstrap_servers=bootstrap,
        input_topic=source,
        output_topic=sink,
        consumer_group=group,
        offset_reset_policy=OffsetResetPolicy.EARLIEST,
    )
    consumer = Consumer(consumer_config(settings, {}))
    producer = Producer(producer_config(settings, {}))

    def on_revoke(revoked: Consumer, partitions: list[TopicPartition]) -> None:
        producer.flush(10)
        commits = tracker.revoke((p.topic, p.partition) for p in partitions)
        if commits:
            offsets = [TopicPartition(t, p, o) for (t, p), o in commits.items()]
            revoked.commit(offsets=offsets, asynchronous=False)

    consumer.subscribe(
        [source],
        on_assign=lambda c, ps: tracker.assign((p.topic, p.partition) for p in ps),
        on_revoke=on_revoke,
    )
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    last_commit = 0.0
    while not stop:
        producer.poll(0)
        now = time.monotonic()
        commits = tracker.committable()
        if commits and now - last_commit > 0.05:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in commits.items()], asynchronous=True)
            tracker.committed(commits)
            last_commit = now
        messages = consumer.consume(settings.batch_max_messages, settings.batch_max_wait_ms / 1000.0)
        groups: dict[tuple[str, int], list[int]] = {}
        good = []
        for message in messages:
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if message.error() is None and topic is not None and partition is not None and offset is not None:
                groups.setdefault((topic, partition), []).append(offset)
                good.append(message)
        messages = good
        epochs = {tp: tracker.fetched(tp, offsets) for tp, offsets in groups.items()}
        remaining = [len(messages)]

        def delivered(
            error: Any, _message: Any, groups: dict = groups, epochs: dict = epochs, remaining: list = remaining
        ) -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                for tp, offsets in groups.items():
                    if epochs[tp] is not None:
                        tracker.acknowledge(tp, offsets, epoch=epochs[tp])

        for message in messages:
            while True:
                try:
                    producer.produce(sink, message.value(), message.key(), on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.01)
    producer.flush(30)
    commits = tracker.committable()
    if commits:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in commits.items()], asynchronous=False)
    consumer.close()


def role_naive(bootstrap: str, source: str, sink: str, group: str, model_path: str, count: int) -> None:
    """One record at a time: poll, decode, score, produce, wait for the ack, commit synchronously."""
    from scorer.decode import DecodeError, decode_record
    from scorer.model import load_model

    model = load_model(Path(model_path))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    consumer.subscribe([source])
    done = 0
    while done < count:
        message = consumer.poll(1.0)
        if message is None or message.error() is not None:
            continue
        try:
            event = decode_record(
                message.value(), headers=message.headers(), key=message.key(), timestamp_ms=message.timestamp()[1]
            )
            score = float(model.predict_scores(feature_matrix([event]))[0])
            value = orjson.dumps({"message_id": event.message_id, "score": score})
        except DecodeError:
            value = message.value() or b""
        producer.produce(sink, value, message.key())
        producer.flush(30)
        consumer.commit(message=message, asynchronous=False)
        done += 1
    consumer.close()


@contextmanager
def own_session(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` as its own process in its own session; SIGTERM (if still running) and wait on exit.

    Its own session puts it in its own scheduling group (Linux autogroup), as the dev stack's
    node agent runs a pod and as Kubernetes gives each pod its own cgroup: otherwise the scorer
    would share one CPU share with this process, the load generator, while the broker has its own.
    """
    process = subprocess.Popen(argv, start_new_session=True, **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(60)


@contextmanager
def scorer_subprocess(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``scorefleet-scorer`` in its own session (logs appended to ``log_path``); SIGTERM and wait on exit."""
    with log_path.open("ab") as log, own_session([str(SCORER_BIN)], env=env, stdout=log, stderr=log) as process:
        yield process


def run_role(args: list[str]) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """A ``--role`` of this script in its own session (see ``own_session``)."""
    return own_session([sys.executable, __file__, "--role", *args], stdout=subprocess.DEVNULL)


# -- one mode --


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run needs (from the command line)."""

    bootstrap: str
    partitions: int
    naive_count: int
    latency_seconds: float
    latency_warmup_seconds: float
    latency_rate: float | None
    model: dict[str, str]
    workdir: str


def run_mode(name: str, count: int, config: BenchConfig) -> dict[str, Any]:
    """Pre-fill, run pass-through, scorer and naive loop, then the latency phase; returns the mode's figures."""
    bootstrap, partitions, naive_count = config.bootstrap, config.partitions, config.naive_count
    model, latency_seconds, workdir = config.model, config.latency_seconds, config.workdir
    raw = name == "raw"
    suffix = uuid.uuid4().hex[:6]
    source = f"bench-{name}-in-{suffix}"
    sinks = {role: f"bench-{name}-{role}-{suffix}" for role in ("scorer", "passthrough", "naive", "latency")}
    latency_source = f"bench-{name}-latin-{suffix}"
    topics = [source, latency_source, *sinks.values(), *(sink + ".dlq" for sink in sinks.values())]
    create_topics(bootstrap, topics, partitions)
    try:
        print(f"[{name}] generating {count} records", file=sys.stderr, flush=True)
        records = encoded_records(count, raw=raw, seed=101)
        value_bytes = int(np.median([len(value) for _, value, _ in records[:2000]]))
        started = time.perf_counter()
        prefill(bootstrap, source, records)
        print(
            f"[{name}] pre-filled in {time.perf_counter() - started:.1f} s (median value {value_bytes} B)",
            file=sys.stderr,
            flush=True,
        )

        results: dict[str, float] = {}
        # pass-through
        group = f"bench-pt-{suffix}"
        with run_role(["passthrough", bootstrap, source, sinks["passthrough"], group]):
            wait_committed(bootstrap, group, source, partitions, count, timeout=1200)
        results["passthrough"] = rate_from_outputs(read_timestamps(bootstrap, sinks["passthrough"], partitions))
        print(f"[{name}] pass-through {results['passthrough']:.0f}/s", file=sys.stderr, flush=True)
        # scorer
        group = f"bench-scorer-{suffix}"
        env = scorer_env(
            bootstrap, source=source, sink=sinks["scorer"], group=group, model=model, port=19_611, cache=workdir
        )
        log_path = Path(workdir) / f"scorer-{name}.log"
        with scorer_subprocess(env, log_path):
            wait_committed(bootstrap, group, source, partitions, count, timeout=1800)
        results["scorer"] = rate_from_outputs(read_timestamps(bootstrap, sinks["scorer"], partitions))
        print(f"[{name}] scorer {results['scorer']:.0f}/s", file=sys.stderr, flush=True)
        # naive
        group = f"bench-naive-{suffix}"
        with run_role(["naive", bootstrap, source, sinks["naive"], group, model["path"], str(naive_count)]) as process:
            process.wait(1800)
        results["naive"] = rate_from_outputs(read_timestamps(bootstrap, sinks["naive"], partitions))
        print(f"[{name}] naive {results['naive']:.0f}/s", file=sys.stderr, flush=True)

        # latency at half the scorer's rate
        target_rate = config.latency_rate or results["scorer"] / 2
        warmup_count = int(target_rate * config.latency_warmup_seconds)
        latency_count = warmup_count + int(target_rate * latency_seconds)
        latency_records = encoded_records(latency_count, raw=raw, seed=202)
        warmup_keys = {key for key, _, _ in latency_records[:warmup_count]}
        group = f"bench-lat-{suffix}"
        env = scorer_env(
            bootstrap,
            source=latency_source,
            sink=sinks["latency"],
            group=group,
            model=model,
            port=19_612,
            cache=workdir,
        )
        with scorer_subprocess(env, log_path):
            wait_ready(19_612)
            time.sleep(2)  # let the group settle: the first assignment is not part of steady-state latency
            achieved = paced_produce(
                bootstrap, latency_source, latency_records, target_rate, warmup_topic=sinks["latency"] + ".dlq"
            )
            wait_committed(bootstrap, group, latency_source, partitions, latency_count, timeout=600)
        produced = read_timestamps(bootstrap, latency_source, partitions)
        scored = read_timestamps(bootstrap, sinks["latency"], partitions)
        pairs = [(key in warmup_keys, scored[key] - stamp) for key, stamp in produced.items() if key in scored]
        warmup = np.asarray([latency for early, latency in pairs if early], dtype=float)
        latencies = np.asarray([latency for early, latency in pairs if not early], dtype=float)
        return {
            "mode": name,
            "count": count,
            "partitions": partitions,
            "value_bytes_median": value_bytes,
            "scorer_messages_per_second": round(results["scorer"]),
            "passthrough_messages_per_second": round(results["passthrough"]),
            "naive_messages_per_second": round(results["naive"], 1),
            "naive_count": naive_count,
            "ratio_scorer_vs_passthrough": round(results["scorer"] / results["passthrough"], 3),
            "ratio_scorer_vs_naive": round(results["scorer"] / results["naive"], 1),
            "latency_rate_messages_per_second": round(achieved),
            "latency_records": len(latencies),
            "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "latency_p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "latency_warmup_seconds": config.latency_warmup_seconds,
            "latency_warmup_p99_ms": round(float(np.percentile(warmup, 99)), 1) if len(warmup) else None,
        }
    finally:
        delete_topics(bootstrap, topics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=200_000, help="JSON events to pre-fill")
    parser.add_argument("--raw-count", type=int, default=20_000, help="raw RFC 5322 messages to pre-fill")
    parser.add_argument("--naive-count", type=int, default=2_000, help="records the naive loop handles")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--latency-warmup-seconds",
        type=float,
        default=2.0,
        help="seconds of the paced stream before the measured ones (reported apart as latency_warmup_p99_ms)",
    )
    parser.add_argument("--modes", default="json,raw")
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=None,
        help="records/s of the latency phase (default: half the measured scorer rate)",
    )
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    args = parser.parse_args()
    if args.role:
        role, *rest = args.role
        if role == "passthrough":
            role_passthrough(*rest)
        else:
            bootstrap, source, sink, group, model_path, count = rest
            role_naive(bootstrap, source, sink, group, model_path, int(count))
        return

    workdir = tempfile.mkdtemp(prefix="scorer-bench-")
    report: TrainingReport = train_default_model(Path(workdir), events=5_000)
    model = {"name": report.name, "version": report.version, "path": str(report.path), "sha256": report.sha256}
    config = BenchConfig(
        bootstrap=args.bootstrap,
        partitions=args.partitions,
        naive_count=args.naive_count,
        latency_seconds=args.latency_seconds,
        latency_warmup_seconds=args.latency_warmup_seconds,
        latency_rate=args.latency_rate,
        model=model,
        workdir=workdir,
    )
    results = []
    for mode in args.modes.split(","):
        count = args.count if mode == "json" else args.raw_count
        result = run_mode(mode, count, config)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(
        json.dumps(
            {
                "benchmark": "scorer_throughput",
                "cpu_count": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "modes": results,
            }
        )
    )


if __name__ == "__main__":
    main()

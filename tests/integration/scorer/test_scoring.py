"""The scorer on the real broker: every record scored or dead-lettered, poison isolated, offsets committed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from scorer.decode import RFC822_CONTENT_TYPE
from scorer.events import DeadLetterReason, score_record_from_object
from scorer.features import FEATURE_NAMES
from scorer.generator import generate_events, render_rfc822
from scorer.model import ScoringModel, load_model
from scorer.service import DLQ_REASON_HEADER, SOURCE_OFFSET_HEADER, SOURCE_PARTITION_HEADER, SOURCE_TOPIC_HEADER
from scorer.training import TrainingReport

from tests.integration.scorer.support import (
    Topics,
    committed_offsets,
    end_offsets,
    headers_of,
    json_records,
    key_of,
    make_service,
    output_records,
    produce,
    read_topic,
    scorer_settings,
    scorer_thread,
)
from tests.waiting import wait_for

BODY_LENGTH_COLUMN = FEATURE_NAMES.index("body_length_log")


class RefusesHugeBodiesModel:
    """Fault injection (named as such): the real model, except it raises on any row whose body is over 500 kB.

    A real ONNX model cannot be made to fail on one chosen record, so this wrapper stands in for
    "a model error on one record"; everything else is the real model.
    """

    def __init__(self, model: ScoringModel) -> None:
        self._model = model

    def predict_scores(self, features: np.ndarray) -> np.ndarray:
        if np.any(features[:, BODY_LENGTH_COLUMN] > np.log1p(500_000)):
            raise RuntimeError("injected model fault: body too large")
        return self._model.predict_scores(features)


def _all_committed(bootstrap: str, group: str, topics: Topics) -> bool:
    return committed_offsets(bootstrap, group, topics.input, topics.partitions) == end_offsets(
        bootstrap, topics.input, topics.partitions
    )


@pytest.mark.parametrize("topics", [3], indirect=True)
def test_every_record_scored_and_committed(
    kafka_bootstrap_servers: str, topics: Topics, model_artifact: TrainingReport
) -> None:
    items = list(generate_events(600, seed=21))
    raw_items = items[:60]
    records = json_records([item.event for item in items[60:]])
    records += [
        (
            item.event["message_id"].encode(),
            render_rfc822(item.event),
            [("content-type", RFC822_CONTENT_TYPE.encode()), ("tenant-id", item.event["tenant_id"].encode())],
        )
        for item in raw_items
    ]
    produce(kafka_bootstrap_servers, topics.input, records)
    settings = scorer_settings(kafka_bootstrap_servers, topics, model_artifact)

    with scorer_thread(settings, model_artifact):
        wait_for(
            lambda: _all_committed(kafka_bootstrap_servers, settings.consumer_group, topics),
            timeout_seconds=60,
            what="all input offsets committed",
        )

    outputs = output_records(kafka_bootstrap_servers, topics.output)
    by_id = {record["message_id"]: score_record_from_object(record) for record in outputs}
    assert set(by_id) == {item.event["message_id"] for item in items}
    first = by_id[items[0].event["message_id"]]
    assert (first.model_name, first.model_version) == (model_artifact.name, model_artifact.version)
    assert first.source.topic == topics.input
    keys = {key_of(message) for message in read_topic(kafka_bootstrap_servers, topics.output)}
    assert keys == set(by_id)  # keyed by message id
    labels = np.asarray([item.label for item in items])
    scores = np.asarray([by_id[item.event["message_id"]].score for item in items])
    assert float(np.mean((scores >= 0.5) == labels)) > 0.85
    assert read_topic(kafka_bootstrap_servers, topics.dead_letter) == []


def test_poison_goes_to_dead_letter_and_the_rest_is_scored(
    kafka_bootstrap_servers: str, topics: Topics, model_artifact: TrainingReport
) -> None:
    good = [item.event for item in generate_events(40, seed=22)]
    huge = {**good[0], "message_id": "huge-body", "body_text": "x" * 600_000}
    rfc822: list[tuple[str, str | bytes | None]] = [("content-type", RFC822_CONTENT_TYPE.encode())]
    poison: dict[str, tuple[bytes, list[tuple[str, str | bytes | None]] | None, DeadLetterReason]] = {
        "invalid-json": (b"{not json", None, DeadLetterReason.INVALID_JSON),
        "schema": (
            orjson.dumps({"message_id": "no-tenant", "received_at": "2026-11-01T00:00:00Z"}),
            None,
            DeadLetterReason.SCHEMA_VIOLATION,
        ),
        "broken-mime": (bytes(range(256)) * 8, rfc822, DeadLetterReason.UNPARSEABLE_MIME),
        "model-fault": (orjson.dumps(huge), None, DeadLetterReason.MODEL_ERROR),
    }
    records = json_records(good[:20])
    records += [(key.encode(), value, headers) for key, (value, headers, _) in poison.items()]
    records += json_records(good[20:])
    produce(kafka_bootstrap_servers, topics.input, records)
    settings = scorer_settings(kafka_bootstrap_servers, topics, model_artifact, batch_max_messages=500)
    service = make_service(settings, RefusesHugeBodiesModel(load_model(model_artifact.path)))
    service.subscribe()
    try:
        wait_for(
            lambda: service.step() == 0 and _all_committed(kafka_bootstrap_servers, settings.consumer_group, topics),
            timeout_seconds=60,
            what="every record handled and committed",
            poll_seconds=0,
        )
    finally:
        service.shutdown()

    scored = {record["message_id"] for record in output_records(kafka_bootstrap_servers, topics.output)}
    assert scored == {event["message_id"] for event in good}
    dead = read_topic(kafka_bootstrap_servers, topics.dead_letter)
    assert len(dead) == len(poison)
    offsets_by_key = {message.key(): message.offset() for message in read_topic(kafka_bootstrap_servers, topics.input)}
    for message in dead:
        key = key_of(message)
        value, _, reason = poison[key]
        headers = headers_of(message)
        assert headers[DLQ_REASON_HEADER] == reason.value, key
        assert message.value() == value, "original bytes kept"
        assert headers[SOURCE_TOPIC_HEADER] == topics.input
        assert headers[SOURCE_PARTITION_HEADER] == "0"
        assert int(headers[SOURCE_OFFSET_HEADER]) == offsets_by_key[key.encode()]


def test_probes_and_metrics_of_a_running_scorer(
    kafka_bootstrap_servers: str, topics: Topics, model_artifact: TrainingReport, tmp_path: Path
) -> None:
    import urllib.request

    from tests.integration.scorer.support import scorer_process

    produce(kafka_bootstrap_servers, topics.input, json_records([item.event for item in generate_events(50, seed=23)]))
    settings = scorer_settings(kafka_bootstrap_servers, topics, model_artifact, http_port=19_512)
    with scorer_process(settings, tmp_path, "probes") as process:

        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:19512{path}", timeout=2) as response:
                    return response.status, response.read().decode()
            except OSError:
                return 0, ""

        wait_for(lambda: get("/readyz")[0] == 200, timeout_seconds=60, what="/readyz 200")
        assert get("/healthz")[0] == 200
        wait_for(
            lambda: (
                "scorefleet_scorer_records_consumed_total" in get("/metrics")[1]
                and _all_committed(kafka_bootstrap_servers, settings.consumer_group, topics)
            ),
            timeout_seconds=60,
            what="records consumed and committed",
        )
        metrics = get("/metrics")[1]
        assert f'scorefleet_scorer_records_consumed_total{{topic="{topics.input}"}} 50.0' in metrics
        assert f'scorefleet_scorer_model_info{{name="{model_artifact.name}",sha256="{model_artifact.sha256}"' in metrics
        assert "scorefleet_scorer_ready 1.0" in metrics
        lag_series = f'scorefleet_scorer_consumer_lag_messages{{partition="0",topic="{topics.input}"}} 0.0'
        wait_for(lambda: lag_series in get("/metrics")[1], timeout_seconds=30, what="lag of 0 reported")
        process.terminate()
        assert process.wait(30) == 0

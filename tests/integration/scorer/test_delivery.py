"""Delivery semantics on the real broker: rebalance, SIGTERM drain, kill -9, two scorers in one group.

Each case is one of the issue's: offsets committed are exactly the acknowledged work, and every
input ends with at least one output or dead-letter record.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer
from scorer.generator import generate_events
from scorer.model import load_model
from scorer.training import TrainingReport

from tests.integration.scorer.support import (
    KafkaRecord,
    Topics,
    commit_offsets,
    committed_offsets,
    end_offsets,
    json_records,
    key_of,
    make_service,
    output_records,
    produce,
    read_topic,
    scorer_process,
    scorer_settings,
    scorer_thread,
    value_of,
)
from tests.waiting import wait_for


def _events(count: int, seed: int) -> list[dict]:
    return [item.event for item in generate_events(count, seed=seed)]


@pytest.mark.parametrize("topics", [2], indirect=True)
def test_rebalance_commits_done_work_not_fetched_work(
    kafka_bootstrap_servers: str, topics: Topics, model_artifact: TrainingReport
) -> None:
    """Read offsets 0-499 uncommitted, lose the partition in a rebalance, get it back at committed 0,
    process 0-9 and commit: the committed offset is 10, not 500 (the issue's partition-3 case)."""
    bootstrap = kafka_bootstrap_servers
    for partition in range(2):
        produce(bootstrap, topics.input, json_records(_events(500, seed=30 + partition)), partition=partition)
    settings = scorer_settings(bootstrap, topics, model_artifact, batch_max_messages=500)
    scorer = make_service(settings, load_model(model_artifact.path))
    scorer.subscribe()
    # Read everything (offsets 0-499 of both partitions) into the books without finishing any of it.
    fetched = 0
    deadline = time.monotonic() + 60
    while fetched < 1000:
        assert time.monotonic() < deadline, "could not fetch the 1000 records"
        batch = scorer.take_on(scorer.fetch_batch())
        fetched += len(batch.messages) if batch else 0

    # A second member joins: the cooperative-sticky assignor moves one partition to it.
    intruder = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": settings.consumer_group,
            "partition.assignment.strategy": "cooperative-sticky",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    intruder.subscribe([topics.input])

    def lost_one() -> bool:
        intruder.poll(0.05)
        scorer.take_on(scorer.fetch_batch())
        return len(scorer.owned_partitions()) == 1 and len(intruder.assignment()) == 1

    wait_for(lost_one, timeout_seconds=60, what="the scorer to lose one partition", poll_seconds=0)
    moved = ({(topics.input, p) for p in range(2)} - set(scorer.owned_partitions())).pop()
    intruder.close()  # leaves without processing or committing anything

    # Records of the returned partition may already arrive with the poll that gets it back: keep them.
    returned: list = []

    def fetch_returned() -> None:
        returned.extend(m for m in scorer.fetch_batch() if (m.topic(), m.partition()) == moved)

    def got_it_back() -> bool:
        fetch_returned()
        return moved in scorer.owned_partitions()

    wait_for(got_it_back, timeout_seconds=60, what="the partition to come back", poll_seconds=0)

    # Back at the committed offset (none: earliest = 0). Finish exactly offsets 0-9 of it.
    def fetched_again() -> list:
        fetch_returned()
        return returned

    messages = wait_for(fetched_again, timeout_seconds=60, what="records of the returned partition", poll_seconds=0)
    assert messages[0].offset() == 0
    batch = scorer.take_on(messages[:10])
    assert batch is not None and [m.offset() for m in batch.messages] == list(range(10))
    scorer.score_and_produce(batch)
    assert scorer.flush(30) == 0
    scorer.commit(force=True)
    committed = committed_offsets(bootstrap, settings.consumer_group, topics.input, 2)
    assert committed[moved[1]] == 10
    scorer.shutdown()


def test_sigterm_drains_commits_and_restart_resumes_without_gaps(
    kafka_bootstrap_servers: str, topics: Topics, model_artifact: TrainingReport, tmp_path: Path
) -> None:
    """Offsets 100-149; 100-119 done; SIGTERM while 120.. is in flight: the restart resumes where the
    commit says, and every offset from 100 has an output (nothing skipped)."""
    bootstrap = kafka_bootstrap_servers
    produce(bootstrap, topics.input, json_records(_events(150, seed=40)))
    group = f"scorer-test-{uuid.uuid4().hex[:8]}"
    commit_offsets(bootstrap, group, {(topics.input, 0): 100})  # a previous member got to 100
    slow = scorer_settings(
        bootstrap, topics, model_artifact, consumer_group=group, batch_max_messages=20, per_record_delay_ms=40
    )

    def output_offsets() -> list[int]:
        return sorted(record["source"]["offset"] for record in output_records(bootstrap, topics.output))

    with scorer_process(slow, tmp_path, "first") as process:
        wait_for(lambda: 119 in output_offsets(), timeout_seconds=90, what="offsets 100-119 scored")
        process.send_signal(signal.SIGTERM)  # batch 120-139 is being scored (0.8 s per batch)
        assert process.wait(30) == 0, (tmp_path / "first.log").read_text()[-2000:]
    resume_at = committed_offsets(bootstrap, group, topics.input, 1)[0]
    first_run = output_offsets()
    assert 120 <= resume_at < 150
    assert set(range(100, resume_at)) <= set(first_run), "everything below the commit has an output"
    assert min(first_run) == 100, "nothing below the starting commit was re-read"

    fast = scorer_settings(bootstrap, topics, model_artifact, consumer_group=group)
    with scorer_process(fast, tmp_path, "second") as process:
        wait_for(
            lambda: committed_offsets(bootstrap, group, topics.input, 1)[0] == 150,
            timeout_seconds=90,
            what="the restart to commit 150",
        )
        process.terminate()
        assert process.wait(30) == 0
    records = output_records(bootstrap, topics.output)
    restart_offsets = [record["source"]["offset"] for record in records[len(first_run) :]]
    assert min(restart_offsets) == resume_at, "consumption resumed at the committed offset"
    assert set(range(100, 150)) <= {record["source"]["offset"] for record in records}, "nothing skipped"


@pytest.mark.parametrize("topics", [3], indirect=True)
def test_kill_9_mid_batch_loses_nothing(
    kafka_bootstrap_servers: str, topics: Topics, model_artifact: TrainingReport, tmp_path: Path
) -> None:
    bootstrap = kafka_bootstrap_servers
    events = _events(1500, seed=50)
    poison: list[KafkaRecord] = [(f"poison-{i}".encode(), b"{broken", None) for i in range(15)]
    produce(bootstrap, topics.input, json_records(events) + poison)
    group = f"scorer-test-{uuid.uuid4().hex[:8]}"
    slow = scorer_settings(
        bootstrap, topics, model_artifact, consumer_group=group, batch_max_messages=50, per_record_delay_ms=2
    )

    def scored_count() -> int:
        return len(read_topic(bootstrap, topics.output))

    with scorer_process(slow, tmp_path, "crashing") as process:
        wait_for(lambda: scored_count() >= 300, timeout_seconds=90, what="some records scored")
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    before_restart = committed_offsets(bootstrap, group, topics.input, topics.partitions)
    ends = end_offsets(bootstrap, topics.input, topics.partitions)
    assert before_restart != ends, "the crash happened before everything was committed"

    fast = scorer_settings(bootstrap, topics, model_artifact, consumer_group=group)
    with scorer_process(fast, tmp_path, "restarted") as process:
        wait_for(
            lambda: committed_offsets(bootstrap, group, topics.input, topics.partitions) == ends,
            timeout_seconds=90,
            what="the restart to commit everything",
        )
        process.terminate()
        assert process.wait(30) == 0

    scored = {orjson.loads(value_of(m))["message_id"] for m in read_topic(bootstrap, topics.output)}
    dead = {key_of(m) for m in read_topic(bootstrap, topics.dead_letter)}
    assert {event["message_id"] for event in events} <= scored
    assert {f"poison-{i}" for i in range(15)} <= dead


@pytest.mark.parametrize("topics", [4], indirect=True)
def test_two_scorers_split_partitions_and_hand_over(
    kafka_bootstrap_servers: str, topics: Topics, model_artifact: TrainingReport
) -> None:
    bootstrap = kafka_bootstrap_servers
    group = f"scorer-test-{uuid.uuid4().hex[:8]}"
    settings = scorer_settings(bootstrap, topics, model_artifact, consumer_group=group, per_record_delay_ms=1)
    events = _events(3000, seed=60)
    with (
        scorer_thread(settings, model_artifact) as (first, _),
        scorer_thread(settings, model_artifact) as (second, stop),
    ):
        wait_for(
            lambda: len(first.owned_partitions()) == 2 and len(second.owned_partitions()) == 2,
            timeout_seconds=60,
            what="the group to split 2/2",
        )
        produce(bootstrap, topics.input, json_records(events))
        wait_for(
            lambda: len(read_topic(bootstrap, topics.output)) >= 500, timeout_seconds=60, what="both scorers at work"
        )
        stop.set()  # the second scorer drains, commits and leaves; the first takes its partitions over
        wait_for(lambda: len(first.owned_partitions()) == 4, timeout_seconds=60, what="the hand-over")
        ends = end_offsets(bootstrap, topics.input, topics.partitions)
        wait_for(
            lambda: committed_offsets(bootstrap, group, topics.input, topics.partitions) == ends,
            timeout_seconds=90,
            what="everything committed",
        )
    outputs = [orjson.loads(value_of(m)) for m in read_topic(bootstrap, topics.output)]
    scored = [record["message_id"] for record in outputs]
    assert set(scored) == {event["message_id"] for event in events}
    duplicates = len(scored) - len(set(scored))
    assert duplicates <= settings.batch_max_messages * topics.partitions  # at-least-once, bounded re-reads

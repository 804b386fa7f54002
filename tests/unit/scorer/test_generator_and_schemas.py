"""The seeded generator and the committed JSON Schemas of input and output."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from scorer.events import ScoreRecord, event_from_object
from scorer.generator import KIND_WEIGHTS, MALICIOUS_KINDS, generate_events, render_rfc822
from scorer.schemas import SCHEMA_DIR, SCHEMA_FILES, render_schema


def test_same_seed_same_events() -> None:
    first = [item.event for item in generate_events(100, seed=42)]
    again = [item.event for item in generate_events(100, seed=42)]
    other = [item.event for item in generate_events(100, seed=43)]
    assert first == again
    assert first != other
    assert render_rfc822(first[0]) == render_rfc822(again[0])


def test_events_validate_and_ids_are_unique() -> None:
    items = list(generate_events(500, seed=1))
    for item in items:
        event_from_object(item.event)
    assert len({item.event["message_id"] for item in items}) == 500


def test_kind_mix_and_labels() -> None:
    items = list(generate_events(5_000, seed=2))
    kinds = Counter(item.kind for item in items)
    for kind, weight in KIND_WEIGHTS.items():
        assert abs(kinds[kind] / 5_000 - weight) < 0.03, kind
    noisy = sum(item.label != int(item.kind in MALICIOUS_KINDS) for item in items)
    assert 0 < noisy < 150  # about 1 % label noise
    assert abs(sum(KIND_WEIGHTS.values()) - 1.0) < 1e-9


def test_raw_messages_have_realistic_size() -> None:
    sizes = sorted(len(render_rfc822(item.event)) for item in generate_events(300, seed=4))
    median = sizes[len(sizes) // 2]
    assert 5_000 < median < 60_000


def test_received_times_advance_from_start() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [datetime.fromisoformat(item.event["received_at"]) for item in generate_events(50, seed=1, start=start)]
    assert times == sorted(times) and times[0] > start


@pytest.mark.parametrize("file_name", [pytest.param(name, id=name) for name in SCHEMA_FILES])
def test_committed_schema_matches_models(file_name: str) -> None:
    """Fails when scorer/schemas/*.json drift from the models: run `scorefleet-scorer schema --out <dir>`."""
    committed = (SCHEMA_DIR / file_name).read_text()
    assert committed == render_schema(SCHEMA_FILES[file_name], file_name)


def test_input_schema_uses_wire_names() -> None:
    schema = json.loads((SCHEMA_DIR / "email_event.schema.json").read_text())
    assert "from" in schema["properties"]
    assert set(schema["required"]) == {"message_id", "tenant_id", "received_at"}
    output = json.loads((SCHEMA_DIR / "score_record.schema.json").read_text())
    assert output["properties"]["score"]["maximum"] == 1.0
    assert set(output["required"]) == set(ScoreRecord.__struct_fields__)

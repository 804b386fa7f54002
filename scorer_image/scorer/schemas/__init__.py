"""JSON Schemas of the scorer's input (``email_event.schema.json``) and output (``score_record.schema.json``).

Generated from the msgspec Structs in ``scorer.events``; ``write_schemas`` regenerates them
(``scorefleet-scorer schema --out scorer_image/scorer/schemas``) and a unit test fails on drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from scorer.events import EmailEvent, ScoreRecord

SCHEMA_DIR = Path(__file__).parent
SCHEMA_FILES: dict[str, type[msgspec.Struct]] = {
    "email_event.schema.json": EmailEvent,
    "score_record.schema.json": ScoreRecord,
}


def schema_of(model: type[msgspec.Struct], file_name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``model`` with wire names (e.g. ``from``); the root inlined."""
    schema = msgspec.json.schema(model)
    definitions = schema.pop("$defs")
    root = definitions.pop(model.__name__)
    if definitions:
        root["$defs"] = definitions
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://scorefleet.io/schemas/{file_name}",
        **root,
    }


def render_schema(model: type[msgspec.Struct], file_name: str) -> str:
    """The committed text of one schema file (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(schema_of(model, file_name), indent=2, sort_keys=True) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    """Write every schema file into ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, model in SCHEMA_FILES.items():
        path = out_dir / file_name
        path.write_text(render_schema(model, file_name))
        written.append(path)
    return written

"""Writing or checking a file generated from the models (`crds/`, `docs/api.md`).

Layer: build tool, shared by `crdgen` and `docgen`; no cluster access.
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(output: Path, text: str, *, check: bool, make_target: str) -> int:
    """Write `text` to `output` (creating its folder), or with `check` compare them instead.

    Returns the process exit status: 0 when written or identical, 1 (with a message on stderr
    naming `make <make_target>`) when `check` finds the file missing or different."""
    if check:
        if not output.exists() or output.read_text() != text:
            print(f"{output} is out of date: run `make {make_target}`", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"wrote {output}")
    return 0

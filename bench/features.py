"""Feature extraction speed: ``scorer.features.feature_matrix`` on generated events, in batches.

Generates ``--count`` events (``scorer.generator``, seed ``--seed``), decodes them to
``EmailEvent`` values, then times ``feature_matrix`` over all of them in batches of
``--batch-size`` (the NumPy conversion included), ``--repeats`` times, and keeps the best run.
Needs no stack. Prints one JSON line; nothing is asserted.

    .venv/bin/python bench/features.py --count 20000 --batch-size 500
"""

from __future__ import annotations

import argparse
import json
import time

from scorer.events import EmailEvent, event_from_object
from scorer.features import feature_matrix
from scorer.generator import generate_events


def best_run_seconds(events: list[EmailEvent], *, batch_size: int, repeats: int) -> float:
    """The fastest of ``repeats`` passes of ``feature_matrix`` over ``events`` in batches, in seconds."""
    batches = [events[start : start + batch_size] for start in range(0, len(events), batch_size)]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for batch in batches:
            feature_matrix(batch)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="events to generate")
    parser.add_argument("--seed", type=int, default=101, help="generator seed")
    parser.add_argument("--batch-size", type=int, default=500, help="events per feature_matrix call")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best one counts")
    args = parser.parse_args()
    events = [event_from_object(item.event) for item in generate_events(args.count, seed=args.seed)]
    seconds = best_run_seconds(events, batch_size=args.batch_size, repeats=args.repeats)
    result = {
        "bench": "feature_matrix",
        "events": len(events),
        "batch_size": args.batch_size,
        "us_per_event": round(seconds / len(events) * 1e6, 3),
        "events_per_second": round(len(events) / seconds),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

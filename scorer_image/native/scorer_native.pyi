"""The scorefleet scorer's hot path in Rust (scorer_image/native/src): features and MIME parsing.

Called by ``scorer.features`` and ``scorer.decode``, which document the contracts; this stub
types the raw module.
Texts must be ``str`` (``TypeError`` otherwise); a lone surrogate in one reads as U+FFFD.
"""

from collections.abc import Iterable, Sequence
from typing import Any

FEATURE_NAMES: tuple[str, ...]
"""Column names of ``feature_matrix`` in order (the model artifact's contract)."""

def feature_matrix(events: Iterable[object]) -> bytearray:
    """Features of ``scorer.events.EmailEvent`` values: float32 little-endian, row-major,
    one row of ``len(FEATURE_NAMES)`` columns per event. Raises ``AttributeError``/``TypeError``
    for an event without an ``EmailEvent``'s attributes and types."""

def phrase_counts(texts: Iterable[str]) -> bytearray:
    """(urgency, credential, payment) phrase occurrences per text as given (case-sensitive):
    int64 little-endian, row-major, one row of 3 per text."""

def url_host(url: str) -> str:
    """The lowercase host of a URL, trailing dots removed; '' when there is none."""

def is_lookalike_domain(domain: str) -> bool:
    """True when ``domain`` imitates a brand without being it (case-sensitive)."""

def find_urls(texts: Iterable[str], limit: int) -> list[str]:
    """URLs in ``texts``, in order of first appearance, unique, at most ``limit``
    (``scorer.decode.find_urls`` gives the rule)."""

def parse_rfc822(raw: bytes, kept_headers: Sequence[str], url_limit: int) -> dict[str, Any] | None:
    """The fields of a raw RFC 5322 message (keys as ``scorer.decode``'s parsers return them,
    ``sent_at`` in seconds since the epoch), or None when the parser refuses the message."""

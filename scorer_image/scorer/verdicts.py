"""Pure: scores (probabilities) -> verdicts, from the configured thresholds."""

from __future__ import annotations

import numpy as np

from scorer.events import Verdict
from scorer.settings import VerdictThresholds

_VERDICT_BY_LEVEL = (Verdict.CLEAN, Verdict.SUSPICIOUS, Verdict.MALICIOUS)


def verdict_for(score: float, thresholds: VerdictThresholds) -> Verdict:
    """The verdict of one score in [0, 1]: malicious at or above ``thresholds.malicious``, etc."""
    if score >= thresholds.malicious:
        return Verdict.MALICIOUS
    if score >= thresholds.suspicious:
        return Verdict.SUSPICIOUS
    return Verdict.CLEAN


def verdicts_for(scores: np.ndarray, thresholds: VerdictThresholds) -> list[Verdict]:
    """Verdicts of a 1-D array of scores, shape (n,) -> list of n verdicts; same rule as ``verdict_for``."""
    levels = (scores >= thresholds.suspicious).astype(np.int8) + (scores >= thresholds.malicious).astype(np.int8)
    return [_VERDICT_BY_LEVEL[level] for level in levels.tolist()]

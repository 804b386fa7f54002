"""Pure drift detection: does a live object still hold every field the operator applies?

Layer: pure core. Server-side apply only claims the fields in the applied manifest, so a child
has drifted exactly when one of those fields is missing or has another value; fields added by
the apiserver (defaults, status) or by other managers do not count.
"""

from __future__ import annotations

from typing import Any

#: Metadata the apiserver or other actors own; never part of the comparison.
_IGNORED_METADATA = frozenset({"resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"})


def satisfies(desired: Any, actual: Any, *, _top: bool = True) -> bool:
    """True when every field set in `desired` has the same value in `actual`.

    Dicts are compared key by key (extra keys in `actual` are fine); lists must have the same
    length and match element by element (SSA replaces atomic lists and merges keyed ones, so a
    missing or extra element is drift either way); scalars must be equal.
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return False
        for key, value in desired.items():
            if _top and key == "metadata":
                if not satisfies({k: v for k, v in value.items() if k not in _IGNORED_METADATA},
                                 actual.get("metadata"), _top=False):
                    return False
                continue
            if key not in actual or not satisfies(value, actual[key], _top=False):
                return False
        return True
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(desired) == len(actual)
            and all(satisfies(d, a, _top=False) for d, a in zip(desired, actual, strict=True))
        )
    return bool(desired == actual)

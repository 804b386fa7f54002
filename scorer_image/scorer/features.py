"""Pure feature extraction: ``EmailEvent`` values -> the model's float32 input matrix.

Sits between decoding (``scorer.events``) and inference (``scorer.model``) on the scorer's hot
path, and feeds training (``scorer.training``). The rules run in Rust, in the ``scorer_native``
extension built from ``scorer_image/native`` (``make venv`` installs it; the image builds it in
its own stage): the rules and their word lists (brands, risky TLDs, shorteners, extensions,
phrases) are defined there once, in ``scorer_image/native/src/rules.rs``. This module is their
Python face: the column contract, the NumPy arrays and the documentation.

Signals follow what mail-security engines look at: sender authentication (SPF/DKIM/DMARC),
Reply-To that differs from From, look-alike domains of brands that phishing imitates,
links to raw IPs, risky top-level domains and URL shorteners, risky attachment types, and
urgency/credential/payment language. Text is compared as Python would: ``str.lower()``
(full Unicode), Python's whitespace for ``strip``, lengths in characters.

The order of ``FEATURE_NAMES`` is part of the model artifact's contract: a model is trained on
this order and the loader refuses an artifact whose input width differs. Add features only at
the end, together with a new model version (and the same column in the native module, which
this module checks at import).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scorer.events import EmailEvent

try:
    import scorer_native
except ModuleNotFoundError as exc:
    raise ImportError(
        "scorer_native, the feature extraction in Rust (scorer_image/native), is not installed: "
        "run `make venv` (needs cargo), or install the wheel that the scorer image builds"
    ) from exc

FEATURE_NAMES: tuple[str, ...] = (
    "spf_fail",
    "dkim_fail",
    "dmarc_fail",
    "auth_none",
    "reply_to_mismatch",
    "from_lookalike_brand",
    "from_free_mail",
    "from_missing",
    "sent_at_missing",
    "sender_internal",
    "url_count_log",
    "url_ip_host",
    "url_risky_tld",
    "url_lookalike_brand",
    "url_shortener",
    "url_foreign_domain_fraction",
    "attachment_count_log",
    "attachment_executable",
    "attachment_macro_document",
    "attachment_archive",
    "attachment_double_extension",
    "attachment_html",
    "subject_urgency_hits",
    "body_credential_hits",
    "body_payment_hits",
    "body_length_log",
    "recipient_count_log",
    "list_unsubscribe",
    "subject_reply_or_forward",
)
FEATURE_COUNT = len(FEATURE_NAMES)

if tuple(scorer_native.FEATURE_NAMES) != FEATURE_NAMES:
    raise ImportError(
        "scorer_native computes the columns "
        f"{tuple(scorer_native.FEATURE_NAMES)!r}, scorer.features declares {FEATURE_NAMES!r}: "
        "the installed native module does not match this source tree; rebuild it with `make venv` "
        "(scorer_image/native/src/row.rs and FEATURE_NAMES must list the same columns)"
    )

# The native module returns little-endian bytes; NumPy reads them without a copy (writable,
# since they come as a bytearray).
_FLOAT32_LE = np.dtype("<f4")
_INT64_LE = np.dtype("<i8")
_PHRASE_KINDS = 3


def feature_matrix(events: Sequence[EmailEvent]) -> np.ndarray:
    """Features of a batch: float32 array of shape ``(len(events), FEATURE_COUNT)``, the model's input.

    Row ``i`` holds ``events[i]``'s features in ``FEATURE_NAMES`` order: counts ``log1p``-scaled,
    flags 0.0/1.0, fractions in [0, 1]; never NaN. A row depends on its event only, not on the
    rest of the batch. Phrase hits count every occurrence in the lowercased subject/body (as
    ``phrase_counts``); body length is in characters of the lowercased body. Raises
    ``AttributeError``/``TypeError`` (naming the field) for a value that is not an ``EmailEvent``.
    """
    matrix = np.frombuffer(scorer_native.feature_matrix(events), dtype=_FLOAT32_LE)
    return matrix.reshape(len(events), FEATURE_COUNT)


def phrase_counts(texts: Sequence[str]) -> np.ndarray:
    """Occurrences of (urgency, credential, payment) phrases in each text, matched as given.

    Returns an int64 array of shape ``(len(texts), 3)``. Every occurrence of every phrase counts,
    overlapping ones included ("verify your" also counts "verify"; "locked" is urgency and
    credential language), as Aho-Corasick overlapping search reports them. Matching is
    case-sensitive: ``feature_matrix`` lowercases before counting. Raises ``TypeError`` for a
    text that is not a ``str``.
    """
    counts = np.frombuffer(scorer_native.phrase_counts(texts), dtype=_INT64_LE)
    return counts.reshape(len(texts), _PHRASE_KINDS)


def is_lookalike_domain(domain: str) -> bool:
    """True when ``domain`` imitates a brand without being it.

    Caught: homoglyph swaps (``paypa1.com``, ``rnicrosoft.com``), one edit away
    (``amazn.com``), the brand plus words (``paypal-secure-login.com``), and the brand as a
    subdomain of someone else's domain (``paypal.com.account-check.xyz``). The brand's own
    domain (``paypal.com``, ``mail.paypal.com``) is not a look-alike. Case-sensitive: pass the
    lowercase domain. The registrable label is approximated (``co.uk``-style two-part suffixes
    handled), good enough for features, not for policy.
    """
    return scorer_native.is_lookalike_domain(domain)


def url_host(url: str) -> str:
    """The lowercase host of a URL (``https://user@Login.Example.com:8443/x`` -> ``login.example.com``).

    Trailing dots are removed; scheme-less URLs (``www.example.com/x``) and IPv6 literals
    (``http://[2001:db8::1]/`` -> ``2001:db8::1``) work too; '' when there is no host.
    """
    return scorer_native.url_host(url)

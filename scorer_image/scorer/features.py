"""Pure feature extraction: an ``EmailEvent`` -> a fixed-length vector of floats for the model.

The order of ``FEATURE_NAMES`` is part of the model artifact's contract: a model is trained on
this order and the loader refuses an artifact whose input width differs. Add features only at
the end, together with a new model version.

Signals follow what mail-security engines look at: sender authentication (SPF/DKIM/DMARC),
Reply-To that differs from From, look-alike domains of brands that phishing imitates,
links to raw IPs, risky top-level domains and URL shorteners, risky attachment types, and
urgency/credential/payment language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

import ahocorasick_rs
import numpy as np

from scorer.events import AuthResult, EmailEvent

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

BRANDS: tuple[str, ...] = (
    "paypal",
    "microsoft",
    "office365",
    "outlook",
    "apple",
    "icloud",
    "amazon",
    "google",
    "docusign",
    "dropbox",
    "netflix",
    "dhl",
    "fedex",
    "wellsfargo",
    "chase",
    "bankofamerica",
    "linkedin",
    "adobe",
)
_BRAND_SET = frozenset(BRANDS)
FREE_MAIL_DOMAINS = frozenset(
    {"gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "aol.com", "gmx.com", "proton.me", "icloud.com"}
)
RISKY_TLDS = frozenset({"xyz", "top", "click", "zip", "tk", "ml", "ga", "cf", "gq", "ru", "cn", "work", "info", "live"})
URL_SHORTENERS = frozenset({"bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "cutt.ly"})
EXECUTABLE_EXTENSIONS = frozenset(
    {"exe", "scr", "js", "jse", "vbs", "bat", "cmd", "ps1", "msi", "iso", "img", "lnk", "jar", "hta"}
)
MACRO_EXTENSIONS = frozenset({"docm", "xlsm", "pptm", "xlsb", "dotm"})
ARCHIVE_EXTENSIONS = frozenset({"zip", "rar", "7z", "gz", "tar", "ace", "cab"})
DOCUMENT_EXTENSIONS = frozenset({"pdf", "doc", "docx", "xls", "xlsx", "txt", "jpg", "png"})
HTML_EXTENSIONS = frozenset({"html", "htm", "shtml", "svg"})

_HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a"})
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# Literal phrases, all found in one Aho-Corasick pass per text (ahocorasick-rs): ~4x faster than
# 45 str.count calls and ~10x faster than regex alternations on this path.
URGENCY_PHRASES = (
    "urgent",
    "immediate",
    "action required",
    "suspend",
    "verify",
    "final notice",
    "expire",
    "within 24 hours",
    "locked",
    "unusual",
)
CREDENTIAL_PHRASES = (
    "password",
    "sign in",
    "sign-in",
    "login",
    "log in",
    "verify your",
    "confirm your",
    "credentials",
    "suspended",
    "locked",
    "security alert",
    "update your",
    "mailbox is full",
)
PAYMENT_PHRASES = (
    "wire transfer",
    "bank details",
    "invoice",
    "payment",
    "remittance",
    "gift card",
    "overdue",
    "iban",
    "beneficiary",
    "purchase order",
    "new supplier",
)
_REPLY_FORWARD = re.compile(r"^\s*(?:re|fw|fwd|aw|sv)\s*:", re.IGNORECASE)


def domain_of(address: str | None) -> str:
    """The lowercase domain of an addr-spec ``local@domain`` ('' when there is none)."""
    if not address:
        return ""
    _, _, domain = address.rpartition("@")
    return domain.strip().strip(">").lower()


def registrable_label(domain: str) -> str:
    """The label left of the public suffix, approximated: ``login.paypa1.com`` -> ``paypa1``.

    Handles two-part suffixes such as ``co.uk``; good enough for features, not for policy.
    """
    labels = domain.split(".")
    if len(labels) >= 3 and labels[-2] in {"co", "com", "org", "net", "ac", "gov"} and len(labels[-1]) == 2:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else labels[0]


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    if len(a) > len(b):
        a, b = b, a
    return any(b[:i] + b[i + 1 :] == a for i in range(len(b)))


@lru_cache(maxsize=65_536)
def is_lookalike_domain(domain: str) -> bool:
    """True when ``domain`` imitates a brand without being it.

    Caught: homoglyph swaps (``paypa1.com``, ``rnicrosoft.com``), one edit away
    (``amazn.com``), the brand plus words (``paypal-secure-login.com``), and the brand as a
    subdomain of someone else's domain (``paypal.com.account-check.xyz``). The brand's own
    domain (``paypal.com``, ``mail.paypal.com``) is not a look-alike. Cached: domains repeat.
    """
    if not domain:
        return False
    label = registrable_label(domain)
    if label in _BRAND_SET:
        return False
    normalized = label.translate(_HOMOGLYPHS).replace("rn", "m").replace("vv", "w")
    if normalized in _BRAND_SET:
        return True
    for brand in BRANDS:
        if len(brand) >= 5 and _within_one_edit(label, brand):
            return True
        if brand in label or (brand in domain and len(brand) >= 4):
            return True
    return False


_URL_HOST = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^@/?#]*@)?(?:\[([^\]/?#]*)\]|([^:/?#\[]*))")


def url_host(url: str) -> str:
    """The lowercase host of a URL (``https://user@Login.Example.com:8443/x`` -> ``login.example.com``).

    One anchored regex rather than ``urllib.parse.urlsplit``, which costs ~10x more on this path.
    Scheme-less URLs (``www.example.com/x``) and IPv6 literals work too; '' when there is no host.
    """
    match = _URL_HOST.match(url)
    if match is None:
        return ""
    return (match.group(1) or match.group(2) or "").lower().rstrip(".")


@lru_cache(maxsize=65_536)
def host_flags(host: str) -> tuple[bool, bool, bool, bool]:
    """(raw IPv4 address, risky top-level domain, URL shortener, brand look-alike) of a URL host; cached."""
    is_ip = _IPV4.match(host) is not None
    risky = not is_ip and host.rpartition(".")[2] in RISKY_TLDS
    return is_ip, risky, host in URL_SHORTENERS, is_lookalike_domain(host)


_PHRASES: tuple[str, ...] = tuple(sorted(set(URGENCY_PHRASES + CREDENTIAL_PHRASES + PAYMENT_PHRASES)))
# Per phrase: (is urgency, is credential, is payment) as 0/1, indexed like _PHRASES.
_PHRASE_KINDS = np.asarray(
    [(p in URGENCY_PHRASES, p in CREDENTIAL_PHRASES, p in PAYMENT_PHRASES) for p in _PHRASES], dtype=np.int64
)
_PHRASE_MATCHER = ahocorasick_rs.AhoCorasick(_PHRASES)


def phrase_counts(texts: Sequence[str]) -> np.ndarray:
    """Occurrences of (urgency, credential, payment) phrases in each lowercase text.

    Returns an int64 array of shape ``(len(texts), 3)``. Every occurrence of every phrase counts,
    overlapping ones included ("verify your" also counts "verify"), the same as counting each
    phrase with ``str.count``. The batch is matched in one Aho-Corasick pass over the texts joined
    by NUL (no phrase contains NUL, so no match spans two texts); match offsets (characters) are
    mapped back to rows.
    """
    counts = np.zeros((len(texts), 3), dtype=np.int64)
    if not texts:
        return counts
    matches = _PHRASE_MATCHER.find_matches_as_indexes("\x00".join(texts), overlapping=True)
    if not matches:
        return counts
    found = np.asarray(matches, dtype=np.int64)
    text_ends = np.cumsum([len(text) + 1 for text in texts])
    rows = np.searchsorted(text_ends, found[:, 1], side="right")
    np.add.at(counts, rows, _PHRASE_KINDS[found[:, 0]])
    return counts


def _extension(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext if dot else ""


_FAILED = frozenset({AuthResult.FAIL, AuthResult.SOFTFAIL, AuthResult.PERMERROR})
# The features computed per event by ``_structured_features``, in its tuple's order; the rest
# (phrase hits and body length) are computed for the whole batch at once.
_STRUCTURED = (
    *FEATURE_NAMES[: FEATURE_NAMES.index("subject_urgency_hits")],
    "recipient_count_log",
    "list_unsubscribe",
    "subject_reply_or_forward",
)
_STRUCTURED_COLUMNS = np.asarray([FEATURE_NAMES.index(name) for name in _STRUCTURED])
_SUBJECT_URGENCY = FEATURE_NAMES.index("subject_urgency_hits")
_BODY_CREDENTIAL = FEATURE_NAMES.index("body_credential_hits")
_BODY_PAYMENT = FEATURE_NAMES.index("body_payment_hits")
_BODY_LENGTH = FEATURE_NAMES.index("body_length_log")
_URGENCY, _CREDENTIAL, _PAYMENT = 0, 1, 2


def _has_list_unsubscribe(headers: dict[str, str]) -> float:
    if "list-unsubscribe" in headers or "List-Unsubscribe" in headers:
        return 1.0
    return 1.0 if any(key.lower() == "list-unsubscribe" for key in headers) else 0.0


def _structured_features(event: EmailEvent) -> tuple[float, ...]:
    """The per-event features of ``_STRUCTURED``, in its order."""
    auth = event.auth
    from_domain = domain_of(event.from_address)
    reply_domain = domain_of(event.reply_to)

    url_count = url_ip = url_risky = url_short = url_lookalike = foreign = 0
    own_suffix = "." + from_domain
    for url in event.urls:
        host = url_host(url)
        if not host:
            continue
        url_count += 1
        is_ip, risky, short, lookalike = host_flags(host)
        url_ip |= is_ip
        url_risky |= risky
        url_short |= short
        url_lookalike |= lookalike
        if from_domain and host != from_domain and not host.endswith(own_suffix):
            foreign += 1

    executable = macro = archive = double_ext = html = 0.0
    for attachment in event.attachments:
        name = attachment.name.lower()
        ext = _extension(name)
        if ext in EXECUTABLE_EXTENSIONS:
            executable = 1.0
        elif ext in MACRO_EXTENSIONS:
            macro = 1.0
        elif ext in ARCHIVE_EXTENSIONS:
            archive = 1.0
        elif ext in HTML_EXTENSIONS:
            html = 1.0
        if ext and _extension(name[: -len(ext) - 1]) in DOCUMENT_EXTENSIONS:
            double_ext = 1.0

    to = event.to
    return (
        1.0 if auth.spf in _FAILED else 0.0,
        1.0 if auth.dkim in _FAILED else 0.0,
        1.0 if auth.dmarc in _FAILED else 0.0,
        1.0 if auth.spf is AuthResult.NONE and auth.dkim is AuthResult.NONE else 0.0,
        1.0 if reply_domain and reply_domain != from_domain else 0.0,
        1.0 if is_lookalike_domain(from_domain) else 0.0,
        1.0 if from_domain in FREE_MAIL_DOMAINS else 0.0,
        0.0 if from_domain else 1.0,
        1.0 if event.sent_at is None else 0.0,
        1.0 if from_domain and any(domain_of(address) == from_domain for address in to) else 0.0,
        math.log1p(url_count),
        url_ip,
        url_risky,
        url_lookalike,
        url_short,
        foreign / url_count if url_count else 0.0,
        math.log1p(len(event.attachments)),
        executable,
        macro,
        archive,
        double_ext,
        html,
        math.log1p(len(to)),
        _has_list_unsubscribe(event.headers),
        1.0 if _REPLY_FORWARD.match(event.subject) else 0.0,
    )


def feature_matrix(events: Sequence[EmailEvent]) -> np.ndarray:
    """Features of a batch: float32 array of shape ``(len(events), FEATURE_COUNT)``, the model's input.

    Row ``i`` holds ``events[i]``'s features in ``FEATURE_NAMES`` order: counts ``log1p``-scaled,
    flags 0.0/1.0, fractions in [0, 1]; never NaN. Phrase hits are counted for the whole batch in
    one pass (``phrase_counts``), the rest per event.
    """
    matrix = np.zeros((len(events), FEATURE_COUNT), dtype=np.float32)
    if not events:
        return matrix
    matrix[:, _STRUCTURED_COLUMNS] = np.asarray([_structured_features(event) for event in events], dtype=np.float64)
    subjects = phrase_counts([event.subject.lower() for event in events])
    bodies = [event.body_text.lower() for event in events]
    body_hits = phrase_counts(bodies)
    matrix[:, _SUBJECT_URGENCY] = subjects[:, _URGENCY]
    matrix[:, _BODY_CREDENTIAL] = np.log1p(body_hits[:, _CREDENTIAL].astype(np.float64))
    matrix[:, _BODY_PAYMENT] = np.log1p((body_hits[:, _PAYMENT] + subjects[:, _PAYMENT]).astype(np.float64))
    matrix[:, _BODY_LENGTH] = np.log1p(np.asarray([len(body) for body in bodies], dtype=np.float64))
    return matrix

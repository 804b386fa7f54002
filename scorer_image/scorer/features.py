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
_PHRASE_KINDS: tuple[tuple[int, int, int], ...] = tuple(
    (int(p in URGENCY_PHRASES), int(p in CREDENTIAL_PHRASES), int(p in PAYMENT_PHRASES)) for p in _PHRASES
)
_PHRASE_MATCHER = ahocorasick_rs.AhoCorasick(_PHRASES)


def phrase_counts(text: str) -> tuple[int, int, int]:
    """Occurrences of (urgency, credential, payment) phrases in lowercase ``text``.

    Every occurrence of every phrase counts, overlapping ones included ("verify your" also counts
    "verify"), the same as counting each phrase with ``str.count``.
    """
    urgency = credential = payment = 0
    for index, _start, _end in _PHRASE_MATCHER.find_matches_as_indexes(text, overlapping=True):
        kinds = _PHRASE_KINDS[index]
        urgency += kinds[0]
        credential += kinds[1]
        payment += kinds[2]
    return urgency, credential, payment


def _extension(name: str) -> str:
    _, dot, ext = name.lower().rpartition(".")
    return ext if dot else ""


_FAILED = frozenset({AuthResult.FAIL, AuthResult.SOFTFAIL, AuthResult.PERMERROR})


def _has_list_unsubscribe(headers: dict[str, str]) -> float:
    if "list-unsubscribe" in headers or "List-Unsubscribe" in headers:
        return 1.0
    return 1.0 if any(key.lower() == "list-unsubscribe" for key in headers) else 0.0


def extract_features(event: EmailEvent) -> list[float]:
    """The feature vector of one event: ``FEATURE_COUNT`` floats in ``FEATURE_NAMES`` order.

    Counts are ``log1p``-scaled, flags are 0.0/1.0, fractions are in [0, 1]; never NaN.
    """
    auth = event.auth
    from_domain = domain_of(event.from_address)
    reply_domain = domain_of(event.reply_to)
    recipient_domains = {domain_of(address) for address in event.to}

    hosts = [host for host in map(url_host, event.urls) if host]
    url_ip = url_risky = url_short = url_lookalike = False
    foreign = 0
    own_suffix = "." + from_domain
    for host in hosts:
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

    subject = event.subject.lower()
    body = event.body_text.lower()
    subject_urgency, _, subject_payment = phrase_counts(subject)
    _, body_credential, body_payment = phrase_counts(body)
    return [
        1.0 if auth.spf in _FAILED else 0.0,
        1.0 if auth.dkim in _FAILED else 0.0,
        1.0 if auth.dmarc in _FAILED else 0.0,
        1.0 if auth.spf is AuthResult.NONE and auth.dkim is AuthResult.NONE else 0.0,
        1.0 if reply_domain and reply_domain != from_domain else 0.0,
        1.0 if is_lookalike_domain(from_domain) else 0.0,
        1.0 if from_domain in FREE_MAIL_DOMAINS else 0.0,
        0.0 if from_domain else 1.0,
        1.0 if event.sent_at is None else 0.0,
        1.0 if from_domain and from_domain in recipient_domains else 0.0,
        math.log1p(len(hosts)),
        float(url_ip),
        float(url_risky),
        float(url_lookalike),
        float(url_short),
        foreign / len(hosts) if hosts else 0.0,
        math.log1p(len(event.attachments)),
        executable,
        macro,
        archive,
        double_ext,
        html,
        float(subject_urgency),
        math.log1p(body_credential),
        math.log1p(body_payment + subject_payment),
        math.log1p(len(body)),
        math.log1p(len(event.to)),
        _has_list_unsubscribe(event.headers),
        1.0 if _REPLY_FORWARD.match(subject) else 0.0,
    ]


def feature_matrix(events: list[EmailEvent]) -> np.ndarray:
    """Features of a batch: float32 array of shape ``(len(events), FEATURE_COUNT)``, the model's input."""
    if not events:
        return np.zeros((0, FEATURE_COUNT), dtype=np.float32)
    return np.asarray([extract_features(event) for event in events], dtype=np.float32)

"""Feature extraction: look-alike domains, URL hosts and the flags of the feature vector.

The rules run in the ``scorer_native`` extension (scorer_image/native); these tables pin their
behaviour, including the Python string semantics they keep (``str.lower()``, Python whitespace,
Unicode digits, overlapping phrase counts), on which trained models depend.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import scorer_native
from scorer.events import EmailEvent, event_from_object
from scorer.features import (
    FEATURE_COUNT,
    FEATURE_NAMES,
    feature_matrix,
    is_lookalike_domain,
    phrase_counts,
    url_host,
)
from scorer.generator import generate_events


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        pytest.param("paypal.com", False, id="brand-itself"),
        pytest.param("mail.paypal.com", False, id="brand-subdomain"),
        pytest.param("paypa1.com", True, id="digit-homoglyph"),
        pytest.param("rnicrosoft.com", True, id="rn-for-m"),
        pytest.param("amazn.com", True, id="one-deletion"),
        pytest.param("paypal-secure-login.com", True, id="brand-plus-words"),
        pytest.param("paypal.com.account-check.xyz", True, id="brand-as-subdomain"),
        pytest.param("example.co.uk", False, id="unrelated-two-part-suffix"),
        pytest.param("acme.com", False, id="unrelated"),
        pytest.param("", False, id="empty"),
        pytest.param("vvellsfargo.com", True, id="vv-for-w"),
        pytest.param("micros0ft.co.uk", True, id="homoglyph-under-two-part-suffix"),
        pytest.param("apple.co.uk", False, id="brand-under-two-part-suffix"),
        pytest.param("paypäl.com", True, id="non-ascii-substitution"),
        pytest.param("mydhl.io", True, id="short-brand-inside-label"),
        pytest.param("dhl.example.org", False, id="short-brand-outside-label"),
        pytest.param("PAYPA1.COM", False, id="case-sensitive-callers-lowercase"),
    ],
)
def test_is_lookalike_domain(domain: str, expected: bool) -> None:
    assert is_lookalike_domain(domain) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://Login.Example.com/path?q=1", "login.example.com", id="lowercase-path-dropped"),
        pytest.param("http://user:pw@example.com:8443/x", "example.com", id="userinfo-and-port"),
        pytest.param("www.example.com/x", "www.example.com", id="no-scheme"),
        pytest.param("https://192.0.2.7/login", "192.0.2.7", id="ipv4"),
        pytest.param("http://[2001:db8::1]:80/", "2001:db8::1", id="ipv6"),
        pytest.param("https://example.com.#frag", "example.com", id="trailing-dot-fragment"),
        pytest.param("", "", id="empty"),
        pytest.param("HTTP://[2001:DB8::1]/", "2001:db8::1", id="ipv6-lowercased"),
        pytest.param("http://[broken", "", id="unclosed-bracket"),
        pytest.param("mailto:user@acme.com", "acme.com", id="no-slashes-userinfo"),
        pytest.param("https://user@host@evil.com/", "host@evil.com", id="first-at-ends-userinfo"),
        pytest.param("//host/x", "", id="leading-slashes-no-scheme"),
        pytest.param("1a://b.com/", "1a", id="scheme-must-start-with-letter"),
        pytest.param("ftp://Ex.COM..:21", "ex.com", id="trailing-dots-before-port"),
        pytest.param("http://İ.com", "i\u0307.com", id="full-unicode-lowercase"),
    ],
)
def test_url_host(url: str, expected: str) -> None:
    assert url_host(url) == expected


def _event(**fields: object) -> EmailEvent:
    base: dict[str, object] = {
        "message_id": "m",
        "tenant_id": "acme",
        "received_at": "2026-11-01T00:00:00Z",
        "sent_at": "2026-11-01T00:00:00Z",
        "from": "a@acme.com",
        "to": ["b@acme.com"],
    }
    return event_from_object({**base, **fields})


def _feature(event: EmailEvent, name: str) -> float:
    return float(feature_matrix([event])[0, FEATURE_NAMES.index(name)])


@pytest.mark.parametrize(
    ("fields", "name", "expected"),
    [
        pytest.param({"auth": {"spf": "softfail"}}, "spf_fail", 1.0, id="spf-softfail"),
        pytest.param({"auth": {"spf": "pass"}}, "spf_fail", 0.0, id="spf-pass"),
        pytest.param({}, "auth_none", 1.0, id="no-auth-results"),
        pytest.param({"reply_to": "x@other.example"}, "reply_to_mismatch", 1.0, id="reply-to-elsewhere"),
        pytest.param({"reply_to": "x@acme.com"}, "reply_to_mismatch", 0.0, id="reply-to-same-domain"),
        pytest.param({"from": "s@paypa1.com"}, "from_lookalike_brand", 1.0, id="from-lookalike"),
        pytest.param({"from": "s@gmail.com"}, "from_free_mail", 1.0, id="free-mail"),
        pytest.param({"from": None}, "from_missing", 1.0, id="from-missing"),
        pytest.param({"sent_at": None}, "sent_at_missing", 1.0, id="date-missing"),
        pytest.param({}, "sender_internal", 1.0, id="internal-sender"),
        pytest.param({"urls": ["http://192.0.2.1/x"]}, "url_ip_host", 1.0, id="ip-url"),
        pytest.param({"urls": ["https://win.xyz/x"]}, "url_risky_tld", 1.0, id="risky-tld"),
        pytest.param({"urls": ["https://bit.ly/x"]}, "url_shortener", 1.0, id="shortener"),
        pytest.param(
            {"urls": ["https://acme.com/a", "https://x.example/b"]},
            "url_foreign_domain_fraction",
            0.5,
            id="half-foreign-links",
        ),
        pytest.param({"urls": ["https://wiki.acme.com/a"]}, "url_foreign_domain_fraction", 0.0, id="own-subdomain"),
        pytest.param({"attachments": [{"name": "invoice.pdf.exe"}]}, "attachment_executable", 1.0, id="exe"),
        pytest.param(
            {"attachments": [{"name": "invoice.pdf.exe"}]}, "attachment_double_extension", 1.0, id="double-extension"
        ),
        pytest.param({"attachments": [{"name": "r.XLSM"}]}, "attachment_macro_document", 1.0, id="macro-uppercase"),
        pytest.param({"attachments": [{"name": "a.zip"}]}, "attachment_archive", 1.0, id="archive"),
        pytest.param({"attachments": [{"name": "secure.html"}]}, "attachment_html", 1.0, id="html-attachment"),
        pytest.param({"attachments": [{"name": "report.pdf"}]}, "attachment_executable", 0.0, id="pdf-benign"),
        pytest.param({"subject": "URGENT: verify now"}, "subject_urgency_hits", 2.0, id="urgency-words"),
        pytest.param({"body_text": "Confirm your password"}, "body_credential_hits", math.log1p(2), id="credential"),
        pytest.param({"headers": {"List-Unsubscribe": "<x>"}}, "list_unsubscribe", 1.0, id="list-unsubscribe"),
        pytest.param({"subject": "RE: lunch"}, "subject_reply_or_forward", 1.0, id="reply"),
        pytest.param({"subject": "FWD: x"}, "subject_reply_or_forward", 1.0, id="forward"),
        pytest.param({"subject": "\x1cRe : x"}, "subject_reply_or_forward", 1.0, id="reply-python-whitespace"),
        pytest.param({"subject": "\u017fv: x"}, "subject_reply_or_forward", 1.0, id="reply-ignorecase-long-s"),
        pytest.param({"subject": "Reply: x"}, "subject_reply_or_forward", 0.0, id="not-a-reply-prefix"),
        pytest.param({"from": "s@PayPa1.COM"}, "from_lookalike_brand", 1.0, id="from-lookalike-uppercase"),
        pytest.param({"from": "a@ACME.COM"}, "sender_internal", 1.0, id="internal-sender-any-case"),
        pytest.param({"from": "a@acme.com\x1c"}, "sender_internal", 1.0, id="from-python-whitespace-stripped"),
        pytest.param({"from": "a@acme.com\u200b"}, "sender_internal", 0.0, id="zero-width-space-is-not-whitespace"),
        pytest.param({"reply_to": "x@ACME.com"}, "reply_to_mismatch", 0.0, id="reply-to-same-domain-any-case"),
        pytest.param({"auth": {"spf": "none", "dkim": "pass"}}, "auth_none", 0.0, id="dkim-checked"),
        pytest.param({"auth": {"dmarc": "permerror"}}, "dmarc_fail", 1.0, id="dmarc-permerror"),
        pytest.param({"auth": {"dkim": "temperror"}}, "dkim_fail", 0.0, id="dkim-temperror-not-failed"),
        pytest.param({"urls": ["http://\u0661.\u0662.\u0663.\u0664/"]}, "url_ip_host", 1.0, id="ip-url-arabic-digits"),
        pytest.param({"urls": ["http://1.2.3.4\n"]}, "url_ip_host", 1.0, id="ip-url-trailing-newline"),
        pytest.param({"urls": ["http://192.0.2.1.xyz/"]}, "url_ip_host", 0.0, id="ip-like-name"),
        pytest.param({"urls": ["https://win.xyz."]}, "url_risky_tld", 1.0, id="risky-tld-trailing-dot"),
        pytest.param({"urls": ["", "http://", "//x/"]}, "url_count_log", 0.0, id="urls-without-host-not-counted"),
        pytest.param({"urls": ["http://[2001:db8::1]/"]}, "url_foreign_domain_fraction", 1.0, id="ipv6-link-foreign"),
        pytest.param(
            {"from": None, "urls": ["https://x.example/"]}, "url_foreign_domain_fraction", 0.0, id="no-sender-domain"
        ),
        pytest.param(
            {"attachments": [{"name": "invoice.PDF.exe"}]}, "attachment_double_extension", 1.0, id="double-ext-any-case"
        ),
        pytest.param({"attachments": [{"name": ".exe"}]}, "attachment_executable", 1.0, id="extension-only"),
        pytest.param({"attachments": [{"name": "x.pdf."}]}, "attachment_double_extension", 0.0, id="empty-last-ext"),
        pytest.param({"headers": {"LIST-UNSUBSCRIBE": ""}}, "list_unsubscribe", 1.0, id="list-unsubscribe-upper"),
        pytest.param({"headers": {"List-Unsubscribe ": ""}}, "list_unsubscribe", 0.0, id="list-unsubscribe-padded"),
        pytest.param({"subject": "İNVOICE"}, "body_payment_hits", 0.0, id="dotted-capital-i-lowercases-to-two"),
        pytest.param({"body_text": "İİİ"}, "body_length_log", math.log1p(6), id="length-after-lowercasing"),
        pytest.param({"body_text": "LOC\u212aED"}, "body_credential_hits", math.log1p(1), id="kelvin-sign-is-k"),
        pytest.param({"body_text": "pass\x00word"}, "body_credential_hits", 0.0, id="nul-splits-a-phrase"),
        pytest.param({"body_text": "ibank details"}, "body_payment_hits", math.log1p(2), id="overlapping-phrases"),
        pytest.param(
            {"subject": "Invoice", "body_text": "invoice"}, "body_payment_hits", math.log1p(2), id="subject-payment"
        ),
    ],
)
def test_feature_flags(fields: dict[str, object], name: str, expected: float) -> None:
    assert _feature(_event(**fields), name) == pytest.approx(expected)


def test_feature_matrix_shape_and_values() -> None:
    events = [event_from_object(item.event) for item in generate_events(200, seed=3)]
    matrix = feature_matrix(events)
    assert matrix.shape == (200, FEATURE_COUNT)
    assert matrix.dtype == np.float32
    assert np.all(np.isfinite(matrix))
    assert feature_matrix([]).shape == (0, FEATURE_COUNT)
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        pytest.param([], [], id="empty-batch"),
        pytest.param(["", "nothing here"], [(0, 0, 0), (0, 0, 0)], id="no-matches"),
        pytest.param(["verify your password"], [(1, 2, 0)], id="overlapping-phrases-all-count"),
        pytest.param(["invoice", "", "urgent invoice"], [(0, 0, 1), (0, 0, 0), (1, 0, 1)], id="rows-kept-apart"),
        pytest.param(["ée urgent", "çà\x00login"], [(1, 0, 0), (0, 1, 0)], id="non-ascii-and-nul-inside-a-text"),
        pytest.param(["urgen", "t invoice"], [(0, 0, 0), (0, 0, 1)], id="no-match-across-texts"),
        pytest.param(["VERIFY"], [(0, 0, 0)], id="case-sensitive-as-given"),
        pytest.param(["ibank details"], [(0, 0, 2)], id="overlapping-different-phrases"),
        pytest.param(["x" * 100 + "wire transfer" + "x" * 100], [(0, 0, 1)], id="phrase-at-the-middle-counted-once"),
        pytest.param([" invoice" * 40], [(0, 0, 40)], id="long-text"),
    ],
)
def test_phrase_counts_per_text(texts: list[str], expected: list[tuple[int, int, int]]) -> None:
    counts = phrase_counts(texts)
    assert counts.shape == (len(texts), 3)
    assert [tuple(row) for row in counts.tolist()] == expected


def test_feature_rows_do_not_depend_on_the_batch() -> None:
    events = [event_from_object(item.event) for item in generate_events(300, seed=5)]
    batch = feature_matrix(events)
    one_by_one = np.vstack([feature_matrix([event]) for event in events])
    assert np.array_equal(batch, one_by_one)


def test_counts_are_float64_log1p_cast_to_float32() -> None:
    matrix = feature_matrix([_event(body_text="x" * 999, urls=["https://a.example/"] * 3)])
    assert matrix[0, FEATURE_NAMES.index("body_length_log")] == np.float32(math.log1p(999))
    assert matrix[0, FEATURE_NAMES.index("url_count_log")] == np.float32(math.log1p(3))


def test_feature_matrix_is_a_writable_float32_array() -> None:
    matrix = feature_matrix([_event(), _event(subject="urgent")])
    assert matrix.dtype == np.float32
    assert matrix.flags.c_contiguous and matrix.flags.writeable


def test_native_module_has_the_declared_columns() -> None:
    assert tuple(scorer_native.FEATURE_NAMES) == FEATURE_NAMES


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"subject": None}, "EmailEvent.subject", id="subject"),
        pytest.param({"urls": [1]}, r"EmailEvent.urls\[\]", id="url"),
        pytest.param({"from_address": 1}, "EmailEvent.from_address", id="from"),
    ],
)
def test_a_text_that_is_not_a_str_is_named(fields: dict[str, object], field: str) -> None:
    event = EmailEvent(message_id="m", tenant_id="t", received_at=_event().received_at, **fields)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=field):
        feature_matrix([event])


def test_lowercasing_is_python_str_lower_for_every_character() -> None:
    # url_host lowercases the whole host with str.lower() semantics (full mappings, Final_Sigma in
    # context); a host of every non-ASCII character, in runs that also put capital sigmas between
    # cased and uncased neighbours, must come back exactly as Python lowercases it.
    characters = [chr(c) for c in range(0x80, sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    host = "".join(characters) + "ΑΣ" + "Σ-Σ" + "ΑΣ\u0345Σ"
    assert url_host(host) == host.lower()


@pytest.mark.parametrize(
    "whitespace",
    [pytest.param(c, id=f"U+{ord(c):04X}") for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()],
)
def test_python_whitespace_is_stripped_from_addresses(whitespace: str) -> None:
    event = _event(**{"from": f"{whitespace}a@{whitespace}acme.com{whitespace}"})
    assert _feature(event, "sender_internal") == 1.0

"""Feature extraction: look-alike domains, URL hosts and the flags of the feature vector."""

from __future__ import annotations

import math

import numpy as np
import pytest
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

"""Decoding records: JSON events, raw RFC 5322 messages (native parser, stdlib fallback), and poison."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import orjson
import pytest
from scorer.decode import (
    MAX_URLS,
    DecodeError,
    _parse_native,
    _parse_stdlib,
    collapse_blanks,
    decode_record,
    find_urls,
    html_to_text,
    is_rfc822,
    parse_authentication_results,
)
from scorer.events import AuthResult, DeadLetterReason
from scorer.generator import generate_events, render_rfc822

RAW_HEADERS = [("content-type", b"message/rfc822"), ("tenant-id", b"acme")]
TIMESTAMP_MS = 1_795_000_000_000

VALID_EVENT = {
    "message_id": "m-1",
    "tenant_id": "acme",
    "received_at": "2026-11-01T10:00:00Z",
    "from": "a@example.com",
    "to": ["b@acme.com"],
    "subject": "hello",
}


def _decode_raw(raw: bytes, key: bytes | None = b"kafka-key"):
    return decode_record(raw, headers=RAW_HEADERS, key=key, timestamp_ms=TIMESTAMP_MS)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(b"{not json", DeadLetterReason.INVALID_JSON, id="invalid-json"),
        pytest.param(b"", DeadLetterReason.INVALID_JSON, id="empty-value"),
        pytest.param(b"[1, 2]", DeadLetterReason.SCHEMA_VIOLATION, id="array-not-object"),
        pytest.param(
            orjson.dumps({**VALID_EVENT, "message_id": ""}), DeadLetterReason.SCHEMA_VIOLATION, id="empty-message-id"
        ),
        pytest.param(
            orjson.dumps({k: v for k, v in VALID_EVENT.items() if k != "tenant_id"}),
            DeadLetterReason.SCHEMA_VIOLATION,
            id="missing-tenant",
        ),
        pytest.param(
            orjson.dumps({**VALID_EVENT, "received_at": "yesterday"}),
            DeadLetterReason.SCHEMA_VIOLATION,
            id="bad-received-at",
        ),
        pytest.param(
            orjson.dumps({**VALID_EVENT, "attachments": [{"size_bytes": -1}]}),
            DeadLetterReason.SCHEMA_VIOLATION,
            id="negative-attachment-size",
        ),
        pytest.param(
            orjson.dumps({**VALID_EVENT, "auth": {"spf": "maybe"}}),
            DeadLetterReason.SCHEMA_VIOLATION,
            id="unknown-auth-result",
        ),
    ],
)
def test_json_poison(value: bytes, reason: DeadLetterReason) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_record(value, headers=None, key=None, timestamp_ms=TIMESTAMP_MS)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_tombstone_is_poison() -> None:
    with pytest.raises(DecodeError):
        decode_record(None, headers=None, key=b"k", timestamp_ms=0)


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        pytest.param({}, lambda e: e.from_address == "a@example.com" and e.sent_at is None, id="minimal"),
        pytest.param({"unknown_field": 1}, lambda e: e.message_id == "m-1", id="unknown-fields-ignored"),
        pytest.param({"from": None}, lambda e: e.from_address is None, id="no-from-is-normal"),
        pytest.param(
            {"auth": {"spf": "fail"}},
            lambda e: e.auth.spf is AuthResult.FAIL and e.auth.dkim is AuthResult.NONE,
            id="partial-auth",
        ),
    ],
)
def test_json_valid(extra: dict, check) -> None:
    event = decode_record(
        orjson.dumps({**VALID_EVENT, **extra}),
        headers=[("content-type", b"application/json")],
        key=None,
        timestamp_ms=TIMESTAMP_MS,
    )
    assert check(event)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(None, False, id="no-headers"),
        pytest.param([("content-type", b"message/rfc822")], True, id="rfc822"),
        pytest.param([("Content-Type", b"Message/RFC822; charset=binary")], True, id="case-and-params"),
        pytest.param({"content-type": "message/rfc822"}, True, id="dict-headers"),
        pytest.param([("content-type", b"application/json")], False, id="json"),
        pytest.param([("content-type", None)], False, id="null-value"),
    ],
)
def test_is_rfc822(headers, expected: bool) -> None:
    assert is_rfc822(headers) is expected


PLAIN = (
    b"Message-ID: <abc@mail.example>\r\n"
    b"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
    b'From: "Pay Pal" <service@paypa1.com>\r\n'
    b"Reply-To: <collect@evil.xyz>\r\n"
    b"To: anna@acme.com, ben@acme.com\r\n"
    b"Subject: Verify your account\r\n"
    b"Authentication-Results: mx; spf=fail smtp.mailfrom=paypa1.com; dkim=none; dmarc=fail\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Sign in at https://paypa1.com/login now.\r\n"
)


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        pytest.param(
            PLAIN,
            lambda e: (
                (e.message_id, e.from_address, e.reply_to, e.to)
                == ("abc@mail.example", "service@paypa1.com", "collect@evil.xyz", ["anna@acme.com", "ben@acme.com"])
            ),
            id="addresses",
        ),
        pytest.param(PLAIN, lambda e: e.sent_at == datetime(2026, 11, 2, 10, tzinfo=UTC), id="date"),
        pytest.param(PLAIN, lambda e: e.urls == ["https://paypa1.com/login"], id="urls"),
        pytest.param(
            PLAIN,
            lambda e: (e.auth.spf, e.auth.dkim, e.auth.dmarc) == (AuthResult.FAIL, AuthResult.NONE, AuthResult.FAIL),
            id="authentication-results",
        ),
        pytest.param(PLAIN, lambda e: e.tenant_id == "acme" and e.received_at.year == 2026, id="kafka-metadata"),
        pytest.param(
            PLAIN.replace(b"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n", b""),
            lambda e: e.sent_at is None,
            id="no-date-is-normal",
        ),
        pytest.param(
            PLAIN.replace(b"Mon, 2 Nov 2026 10:00:00 +0000", b"the day after tomorrow"),
            lambda e: e.sent_at is None,
            id="unparseable-date-is-normal",
        ),
        pytest.param(
            PLAIN.replace(b'From: "Pay Pal" <service@paypa1.com>\r\n', b""),
            lambda e: e.from_address is None,
            id="no-from-is-normal",
        ),
        pytest.param(
            PLAIN.replace(b"Message-ID: <abc@mail.example>\r\n", b""),
            lambda e: e.message_id == "kafka-key",
            id="no-message-id-uses-kafka-key",
        ),
        pytest.param(
            b"From: a@b.example\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!@@@@\r\n",
            lambda e: e.from_address == "a@b.example",
            id="native-parser-refuses-stdlib-fallback",
        ),
        pytest.param(
            b'From: a@b.example\r\nContent-Type: text/html\r\n\r\n<p>Hi <a href="https://x.example/y">here</a>'
            b"<script>var a=1;</script></p>",
            lambda e: "here" in e.body_text and "var a" not in e.body_text and e.urls == ["https://x.example/y"],
            id="html-only-body",
        ),
    ],
)
def test_rfc822(raw: bytes, check) -> None:
    assert check(_decode_raw(raw))


def test_topmost_authentication_results_counts_on_both_paths() -> None:
    raw = (
        b"From: a@b.example\r\nAuthentication-Results: mx; spf=fail\r\nAuthentication-Results: forged; spf=pass\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!!"
    )
    assert _parse_native(raw)[1] is False  # the stdlib reads this one
    assert _decode_raw(raw).auth.spf is AuthResult.FAIL


def test_bad_base64_is_left_to_the_stdlib() -> None:
    raw = b"From: a@b.example\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!@@@@\r\n"
    assert _parse_native(raw) == ({}, False)
    assert _parse_stdlib(raw)[1]


def _multipart(*parts: bytes, boundary: bytes = b"b") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n"


# Messages whose reading could differ between the two parsers: encodings, charsets, part kinds.
EDGE_MESSAGES = {
    "encoded-and-folded-headers": (
        b"Message-ID:\r\n <folded@mail.example>\r\nFrom: =?utf-8?b?w4lyaWM=?= <eric@b.example>\r\n"
        b"To: Team: a@acme.com, b@acme.com;, c@acme.com\r\nSubject: =?utf-8?q?Caf=C3=A9?= and\r\n more\r\n"
        b"X-Mailer: m 1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nna=EFve soft=\r\nbreak https://a.example/x.\r\n"
    ),
    "duplicate-headers-first-wins": b"Subject: a\r\nSubject: b\r\nFrom: a@b.example\r\n"
    b"Authentication-Results: mx; spf=fail\r\nAuthentication-Results: forged; spf=pass\r\n\r\nbody",
    "utf-8-body-without-charset": b"From: a@b.example\r\n\r\nna\xc3\xafve \xff https://b.example\r\n",
    "html-only": b"From: a@b.example\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hi <a href='https://h.example'>x</a>",
    "attachments-and-embedded-message": b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    + _multipart(
        b"Content-Type: text/plain\r\n\r\nouter",
        b'Content-Type: text/plain; name="notes.txt"\r\n\r\nnot body',
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=",
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\ninner https://i.example",
    ),
    "header-block-without-empty-line": b"From: a@b.example\r\nSubject: s\r\n"
    b"Content-Type: multipart/alternative; boundary=b\r\nThis is a multi-part message\r\n"
    + _multipart(b"Content-Type: text/plain\r\n\r\nkept"),
}


@pytest.mark.parametrize(
    "raw",
    [pytest.param(raw, id=name) for name, raw in EDGE_MESSAGES.items()]
    + [
        pytest.param(render_rfc822(labelled.event), id=f"generated-{i}")
        for i, labelled in enumerate(generate_events(40, seed=9))
    ],
)
def test_native_and_stdlib_parsers_agree(raw: bytes) -> None:
    native, native_ok = _parse_native(raw)
    stdlib, stdlib_ok = _parse_stdlib(raw)
    assert native_ok and stdlib_ok
    if str(native["plain"]).strip():
        stdlib["markup"] = ""  # the native parser hands the HTML over only when the body needs it
    assert native == stdlib


def _nested_multipart(levels: int, inner: bytes = b"Content-Type: text/plain\r\n\r\ndeep", tag: bytes = b"n") -> bytes:
    """``inner`` inside ``levels`` multipart/mixed parts, boundaries ``<tag><level>``."""
    for level in range(levels):
        boundary = tag + b"%d" % level
        header = b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n"
        inner = header + _multipart(inner, boundary=boundary)
    return inner


def test_mime_nested_past_every_parser_is_dead_lettered() -> None:
    raw = b"From: a@b.example\r\n" + _nested_multipart(3000)
    with pytest.raises(DecodeError) as caught:
        _decode_raw(raw)
    assert caught.value.reason is DeadLetterReason.UNPARSEABLE_MIME


def test_embedded_messages_are_read_eight_deep() -> None:
    message = b"Content-Type: text/plain\r\n\r\ndeep"
    bodies = []
    for depth in range(1, 11):
        nested = _nested_multipart(2, message, tag=b"d%d-" % depth)
        message = b"Content-Type: message/rfc822\r\n\r\nFrom: a@b.example\r\n" + nested
        bodies.append(_decode_raw(b"From: top@b.example\r\n" + message).body_text)
    assert bodies == ["deep"] * 8 + [""] * 2


def test_rfc822_without_message_id_or_key_uses_content_hash() -> None:
    raw = PLAIN.replace(b"Message-ID: <abc@mail.example>\r\n", b"")
    assert _decode_raw(raw, key=None).message_id.startswith("sha256:")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(bytes(range(256)) * 4, id="binary-garbage"),
        pytest.param(b"\r\n\r\njust a body", id="no-header-block"),
    ],
)
def test_rfc822_unparseable(raw: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode_raw(raw)
    assert caught.value.reason is DeadLetterReason.UNPARSEABLE_MIME


def test_generated_raw_messages_round_trip() -> None:
    for labelled in generate_events(50, seed=5):
        event = _decode_raw(render_rfc822(labelled.event))
        assert event.message_id == labelled.event["message_id"]
        assert event.subject == labelled.event["subject"]
        assert event.from_address == labelled.event["from"]
        assert len(event.attachments) == len(labelled.event["attachments"])
        assert event.auth.spf.value == labelled.event["auth"]["spf"]
        assert set(labelled.event["urls"]) <= set(event.urls)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        pytest.param(
            ("see https://a.example/x, and http://b.example.",),
            ["https://a.example/x", "http://b.example"],
            id="trailing-punctuation",
        ),
        pytest.param(("https://a.example", "https://a.example"), ["https://a.example"], id="deduplicated"),
        pytest.param(('<a href="https://c.example/p?q=1">',), ["https://c.example/p?q=1"], id="href"),
        pytest.param(("no links here",), [], id="none"),
    ],
)
def test_find_urls(texts: tuple[str, ...], expected: list[str]) -> None:
    assert find_urls(*texts) == expected


def _find_urls_by_regex(*texts: str) -> list[str]:
    """The rule ``find_urls`` keeps, as first written in Python."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in re.findall(r"""https?://[^\s<>"'()\[\]{}]+""", text):
            seen.setdefault(match.rstrip(".,;:!?"), None)
            if len(seen) >= MAX_URLS:
                return list(seen)
    return list(seen)


URL_PIECES = ["http", "https", "://", ":/", "s", "a.example", "/p?q=1", ".", ",", "!", ";", " ", "\n", "\t",
              "\x1c", "\xa0", "\u2028", "\u3000", "\u200b", "<", ">", '"', "'", "(", ")", "[", "]", "{", "}",
              "é", "\u0130", "\U0001f600", "h", "t", "p", "HTTP://", "=", "&amp;"]


def test_find_urls_is_the_regex_on_fuzzed_text() -> None:
    rng = random.Random(4)
    for _ in range(3000):
        texts = ["".join(rng.choices(URL_PIECES, k=rng.randint(0, 40))) for _ in range(rng.randint(1, 3))]
        assert find_urls(*texts) == _find_urls_by_regex(*texts), texts


def test_find_urls_stops_at_the_limit() -> None:
    text = " ".join(f"https://h{i}.example" for i in range(MAX_URLS + 10))
    assert find_urls(text, "https://late.example") == _find_urls_by_regex(text) == [
        f"https://h{i}.example" for i in range(MAX_URLS)
    ]


@pytest.mark.parametrize(
    ("markup", "words"),
    [
        pytest.param("<style>p{}</style><p>Tom &amp; Jerry</p>", ["Tom", "&", "Jerry"], id="style-and-entity"),
        pytest.param("a<SCRIPT type=x>var b;</script >c", ["a", "c"], id="script-any-case"),
        pytest.param("a<script>var b; <p>c", ["a"], id="unclosed-script-hides-the-rest"),
        pytest.param("a <b and c<i>d</i>", ["a", "<b", "and", "c", "d"], id="unclosed-tag-kept-as-text"),
    ],
)
def test_html_to_text(markup: str, words: list[str]) -> None:
    assert html_to_text(markup).split() == words


@pytest.mark.parametrize(
    "markup",
    [pytest.param("<script>" * 100_000, id="unclosed-scripts"), pytest.param("<a" * 200_000, id="unclosed-tags")],
)
@pytest.mark.timeout(60)
def test_html_to_text_is_linear_on_hostile_markup(markup: str) -> None:
    # ~0.1 s here; quadratic before (800 KB of "<script>" took 271 s): the timeout ends a regression.
    assert len(html_to_text(markup)) <= len(markup)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            "mx; spf=pass smtp.mailfrom=a; dkim=pass; dmarc=pass",
            {"spf": "pass", "dkim": "pass", "dmarc": "pass"},
            id="all-pass",
        ),
        pytest.param("mx; SPF=SoftFail", {"spf": "softfail"}, id="case-insensitive"),
        pytest.param("mx; spf=bogus", {}, id="unknown-result-ignored"),
        pytest.param(None, {}, id="absent"),
    ],
)
def test_parse_authentication_results(header: str | None, expected: dict[str, str]) -> None:
    assert parse_authentication_results(header) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("one two", id="single-spaces-untouched"),
        pytest.param("a \t\r\f\v  b", id="mixed-run"),
        pytest.param("line one  \n\n  line two\t", id="newlines-kept"),
        pytest.param("\v\va\t", id="leading-and-trailing"),
        pytest.param("x" + " \t" * 500 + "y", id="long-run"),
    ],
)
def test_collapse_blanks_is_the_whitespace_regex(text: str) -> None:
    assert collapse_blanks(text) == re.sub(r"[ \t\r\f\v]+", " ", text)

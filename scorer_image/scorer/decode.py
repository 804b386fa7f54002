"""Pure decoding: a Kafka record's value (+ headers) -> ``EmailEvent``, or a dead-letter reason.

Two input forms share one topic:

- JSON email events (the default), parsed and validated into ``EmailEvent`` in one msgspec pass.
- Raw RFC 5322 messages, marked by the Kafka header ``content-type: message/rfc822``. They are
  parsed in Rust by ``scorer_native.parse_rfc822`` (the ``mailparse`` crate, the parser that
  ``fast-mail-parser`` wraps), which hands over only the event's fields: the HTML part, most of
  a real mail's text, stays in Rust unless the body text must come from it. What it refuses
  (bad base64, say) is retried with the stdlib ``email`` package; a message neither yields a
  header block from is undecodable. Both read the same parts as body and as attachments.
  Missing or invalid headers (no Date, an unparseable Date, no From) are normal.

Errors are values here (``DecodeError`` with a ``DeadLetterReason``), because a bad record is
input to route, not an exception to stop the loop.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.policy
import email.utils
import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import Message

import msgspec
import scorer_native

from scorer.events import EVENT_DECODER, DeadLetterReason, EmailEvent, event_from_object

RFC822_CONTENT_TYPE = "message/rfc822"
CONTENT_TYPE_HEADER = "content-type"
TENANT_HEADER = "tenant-id"
MAX_URLS = 50
MAX_BODY_CHARS = 20_000
KEPT_HEADERS = ("list-unsubscribe", "x-mailer", "return-path", "x-originating-ip", "precedence", "auto-submitted")

# Both stop at the next "<", so a scan from one "<" never runs past the next: linear on any input
# (the former "<[^>]+>" and ".*?</script>" rescanned to the end from every unclosed "<").
_RAW_TEXT_OPEN = re.compile(r"<(script|style)\b[^<>]*>", re.IGNORECASE)
_RAW_TEXT_CLOSE = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")}
_TAG = re.compile(r"<[^<>]+>")
_SPACE_RUN = re.compile(" {2,}")
_AUTH = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)
_AUTH_VALUES = frozenset({"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"})

KafkaHeaders = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


class DecodeError(Exception):
    """A record that cannot become an ``EmailEvent``; ``reason`` goes into the dead-letter header."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def header_value(headers: KafkaHeaders | None, name: str) -> str | None:
    """The first Kafka header called ``name`` (case-insensitive) as text, or None."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key.lower() == name:
            if value is None:
                return ""
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return None


def is_rfc822(headers: KafkaHeaders | None) -> bool:
    """Whether a record's Kafka headers mark its value as a raw RFC 5322 message."""
    value = header_value(headers, CONTENT_TYPE_HEADER)
    return value is not None and value.split(";", 1)[0].strip().lower() == RFC822_CONTENT_TYPE


def decode_json_event(value: bytes) -> EmailEvent:
    """Parse and validate one JSON email event. Raises DecodeError(INVALID_JSON | SCHEMA_VIOLATION).

    The detail names the first offending field as msgspec does (``Expected `str` of length >= 1 -
    at `$.message_id```).
    """
    try:
        return EVENT_DECODER.decode(value)
    except msgspec.ValidationError as error:
        raise DecodeError(DeadLetterReason.SCHEMA_VIOLATION, str(error)[:200]) from None
    except msgspec.DecodeError as error:
        raise DecodeError(DeadLetterReason.INVALID_JSON, str(error)[:200]) from None


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body, roughly: tags, scripts and styles removed, entities decoded.

    Linear in the length of ``markup`` whatever it holds (hostile mail included). A ``<script>``
    or ``<style>`` that is never closed hides the rest of the document, as it does in a browser.
    """
    kept: list[str] = []
    at = 0
    while (opened := _RAW_TEXT_OPEN.search(markup, at)) is not None:
        kept.append(markup[at : opened.start()])
        closed = _RAW_TEXT_CLOSE[opened.group(1).lower()].search(markup, opened.end())
        if closed is None:
            at = len(markup)
            break
        kept.append(" ")
        at = closed.end()
    kept.append(markup[at:])
    return html.unescape(_TAG.sub(" ", "".join(kept)))


def find_urls(*texts: str) -> list[str]:
    """URLs in ``texts``, in order of first appearance, unique, at most ``MAX_URLS``.

    A URL is what ``re.findall(r"https?://[^\\s<>\"'()\\[\\]{}]+", text)`` finds (case-sensitive,
    Python's whitespace), less its trailing ``.,;:!?``; the scan runs in ``scorer_native``.
    """
    return scorer_native.find_urls(texts, MAX_URLS)


def collapse_blanks(text: str) -> str:
    """``text`` with every run of spaces, tabs, CR, FF and VT made one space; newlines kept.

    Same result as ``re.sub(r"[ \t\r\f\v]+", " ", text)`` at a third of the cost on mail bodies:
    ``str.replace`` runs in C, and the two-space literal lets the regex engine skip ahead.
    """
    blanks = text.replace("\t", " ").replace("\r", " ").replace("\f", " ").replace("\v", " ")
    return _SPACE_RUN.sub(" ", blanks)


def parse_authentication_results(value: str | None) -> dict[str, str]:
    """``{"spf": ..., "dkim": ..., "dmarc": ...}`` found in an Authentication-Results header (RFC 8601)."""
    if not value:
        return {}
    found: dict[str, str] = {}
    for method, result in _AUTH.findall(value):
        result = result.lower()
        if result in _AUTH_VALUES:
            found.setdefault(method.lower(), result)
    return found


def _strip_angle(value: str) -> str:
    return value.strip().strip("<>").strip()


def _event_from_fields(
    *,
    message_id: str,
    tenant_id: str,
    received_at: datetime,
    sent_at: datetime | None,
    from_address: str | None,
    reply_to: str | None,
    to: list[str],
    subject: str,
    plain: str,
    markup: str,
    urls: list[str],
    attachments: list[dict[str, object]],
    headers: dict[str, str],
    authentication_results: str | None,
) -> EmailEvent:
    body = plain if plain.strip() else html_to_text(markup)
    body = collapse_blanks(body)[:MAX_BODY_CHARS]
    return event_from_object(
        {
            "message_id": message_id,
            "tenant_id": tenant_id,
            "received_at": received_at,
            "sent_at": sent_at,
            "from": from_address or None,
            "reply_to": reply_to or None,
            "to": to,
            "subject": subject,
            "body_text": body,
            "urls": urls,
            "attachments": attachments,
            "headers": headers,
            "auth": parse_authentication_results(authentication_results),
        }
    )


def _parse_native(raw: bytes) -> tuple[dict[str, object], bool]:
    fields = scorer_native.parse_rfc822(raw, KEPT_HEADERS, MAX_URLS)
    if fields is None:
        return {}, False
    sent_at = fields["sent_at"]
    try:
        fields["sent_at"] = None if sent_at is None else datetime.fromtimestamp(sent_at, UTC)
    except (ValueError, OverflowError, OSError):
        fields["sent_at"] = None
    fields["message_id"] = _strip_angle(fields["message_id"])
    return fields, True


def _stdlib_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _stdlib_address(value: object) -> str | None:
    if not value:
        return None
    addresses = email.utils.getaddresses([str(value)])
    return addresses[0][1] or None if addresses else None


def _parse_stdlib(raw: bytes) -> tuple[dict[str, object], bool]:
    message: Message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not message.keys():
        return {}, False
    plain: list[str] = []
    markup: list[str] = []
    attachments: list[dict[str, object]] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            attachments.append(
                {
                    "name": filename or "",
                    "content_type": content_type,
                    "size_bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        elif content_type in ("text/plain", "text/html"):
            charset = part.get_content_charset() or "utf-8"
            try:
                text = data.decode(charset, "replace")
            except LookupError:
                text = data.decode("utf-8", "replace")
            (plain if content_type == "text/plain" else markup).append(text)
    # The first of each name, as the native parser reads it: the topmost Authentication-Results is
    # the receiving MTA's (RFC 8601 7.2); lower ones can be the sender's forgeries.
    headers: dict[str, str] = {}
    for key, value in message.items():
        headers.setdefault(key.lower(), str(value))
    to = [address for _, address in email.utils.getaddresses(message.get_all("to", [])) if address]
    fields: dict[str, object] = {
        "message_id": _strip_angle(headers.get("message-id", "")),
        "sent_at": _stdlib_date(headers.get("date")),
        "from_address": _stdlib_address(headers.get("from")),
        "reply_to": _stdlib_address(headers.get("reply-to")),
        "to": to,
        "subject": str(email.header.make_header(email.header.decode_header(headers.get("subject", "")))),
        "plain": "\n".join(plain),
        "markup": "\n".join(markup),
        "urls": find_urls(*plain, *markup),
        "attachments": attachments,
        "headers": {key: headers[key] for key in KEPT_HEADERS if key in headers},
        "authentication_results": headers.get("authentication-results"),
    }
    return fields, True


def decode_rfc822_event(raw: bytes, *, fallback_message_id: str, tenant_id: str, received_at: datetime) -> EmailEvent:
    """Parse a raw RFC 5322 message into an ``EmailEvent``.

    ``fallback_message_id`` is used when the message has no Message-ID (e.g. the Kafka key or a
    hash of the bytes); ``tenant_id`` and ``received_at`` come from the Kafka record.
    Raises DecodeError(UNPARSEABLE_MIME) when neither parser finds a header block, or the stdlib
    fails on what the native parser refused (MIME nested deeper than Python's recursion limit).
    """
    fields, ok = _parse_native(raw)
    if not ok:
        try:
            fields, ok = _parse_stdlib(raw)
        except (ValueError, LookupError, TypeError, UnicodeError, email.errors.MessageError) as error:
            raise DecodeError(DeadLetterReason.UNPARSEABLE_MIME, f"stdlib email: {error}"[:200]) from None
        except RecursionError:
            # MIME nested past Python's recursion limit; the native parser stops at 100 levels.
            raise DecodeError(DeadLetterReason.UNPARSEABLE_MIME, "stdlib email: MIME nested too deep") from None
    if not ok:
        raise DecodeError(DeadLetterReason.UNPARSEABLE_MIME, "no RFC 5322 header block")
    fields["message_id"] = fields["message_id"] or fallback_message_id
    try:
        return _event_from_fields(tenant_id=tenant_id, received_at=received_at, **fields)  # type: ignore[arg-type]
    except msgspec.ValidationError as error:
        raise DecodeError(DeadLetterReason.SCHEMA_VIOLATION, str(error)[:200]) from None


def decode_record(
    value: bytes | None,
    *,
    headers: KafkaHeaders | None,
    key: bytes | None,
    timestamp_ms: int,
) -> EmailEvent:
    """Decode one Kafka record (value, headers, key, timestamp in ms since the epoch).

    JSON unless the ``content-type`` header says ``message/rfc822``. Raises DecodeError.
    """
    if value is None:
        raise DecodeError(DeadLetterReason.INVALID_JSON, "record has no value (tombstone)")
    if not is_rfc822(headers):
        return decode_json_event(value)
    fallback = key.decode("utf-8", "replace") if key else "sha256:" + hashlib.sha256(value).hexdigest()
    tenant = header_value(headers, TENANT_HEADER) or "unknown"
    received_at = datetime.fromtimestamp(max(timestamp_ms, 0) / 1000.0, tz=UTC)
    return decode_rfc822_event(value, fallback_message_id=fallback, tenant_id=tenant, received_at=received_at)

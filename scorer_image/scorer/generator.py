"""Seeded generator of realistic, labelled email events (and raw RFC 5322 renderings of them).

For training the default model, the demo and the benchmarks. Same seed, same events.

Malicious kinds: credential phishing (look-alike brand domains, mismatched Reply-To, urgent
"verify your account" links), invoice/BEC fraud (free-mail or look-alike sender, payment
language, reply-to elsewhere) and malware (executable, macro or archive attachments).
Benign kinds: newsletters (List-Unsubscribe, many links), receipts, internal mail. A share of
each kind borrows the other side's traits (a newsletter on a .info domain, a phish that passes
SPF), so the model has something to learn and is not perfect.
"""

# Templates of generated mail are long literal lines; wrapping them would not make them clearer.
# ruff: noqa: E501

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """The scenario an event was generated from."""

    CREDENTIAL_PHISHING = "credential_phishing"
    INVOICE_FRAUD = "invoice_fraud"
    MALWARE = "malware"
    NEWSLETTER = "newsletter"
    RECEIPT = "receipt"
    INTERNAL = "internal"


MALICIOUS_KINDS = frozenset({EventKind.CREDENTIAL_PHISHING, EventKind.INVOICE_FRAUD, EventKind.MALWARE})
# Share of each kind in a generated stream (sums to 1): most mail is benign.
KIND_WEIGHTS: dict[EventKind, float] = {
    EventKind.CREDENTIAL_PHISHING: 0.12,
    EventKind.INVOICE_FRAUD: 0.06,
    EventKind.MALWARE: 0.07,
    EventKind.NEWSLETTER: 0.30,
    EventKind.RECEIPT: 0.20,
    EventKind.INTERNAL: 0.25,
}

LABEL_NOISE = 0.01  # share of labels flipped, as in real analyst feedback


@dataclass(frozen=True)
class LabelledEvent:
    """One generated event: the JSON-ready dict (``EmailEvent`` shape), its kind and label (1 = malicious)."""

    event: dict[str, Any]
    kind: EventKind
    label: int


_TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")
_FIRST = ("anna", "ben", "carla", "dev", "elena", "farid", "grace", "hiro", "ines", "jon", "kofi", "lena")
_LAST = ("smith", "garcia", "kim", "novak", "okafor", "rossi", "tanaka", "weber", "silva", "cohen")
_BRAND_SPOOFS = {
    "paypal": ("paypa1.com", "paypal-secure-login.com", "paypal.com.account-check.xyz", "paypai.com"),
    "microsoft": ("rnicrosoft.com", "microsoft-support.top", "micros0ft-online.com", "office365-verify.click"),
    "apple": ("apple-id-unlock.info", "app1e.com", "icloud-verify.live"),
    "amazon": ("amaz0n-billing.com", "amazon.com.order-review.ru", "amazn.com"),
    "docusign": ("docusign-mail.xyz", "d0cusign.net"),
    "dhl": ("dhl-parcel-tracking.top", "dhl-express.click"),
}
_NEWSLETTER_SENDERS = (
    "news.example-shop.com",
    "updates.travelhub.io",
    "digest.devweekly.net",
    "mail.cookclub.org",
    "letters.citypaper.info",
)
_RECEIPT_SENDERS = ("receipts.coffeeco.com", "billing.cloudhost.io", "orders.bookstore.com", "no-reply.rideshare.app")
_FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me")
_WORDS = (
    "quarterly",
    "roadmap",
    "meeting",
    "review",
    "budget",
    "team",
    "update",
    "project",
    "release",
    "customer",
    "schedule",
    "notes",
    "draft",
    "feedback",
    "launch",
    "metrics",
    "hiring",
    "offsite",
    "design",
    "sprint",
)


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}"


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _auth(rng: random.Random, *, pass_probability: float) -> dict[str, str]:
    def one() -> str:
        if rng.random() < pass_probability:
            return "pass"
        return rng.choice(("fail", "softfail", "none", "neutral"))

    return {"spf": one(), "dkim": one(), "dmarc": one()}


def _sha(rng: random.Random) -> str:
    """A seeded stand-in for an attachment's sha256."""
    return hashlib.sha256(rng.randbytes(16)).hexdigest()


def _credential_phishing(rng: random.Random, tenant: str, recipient: str) -> dict[str, Any]:
    brand = rng.choice(list(_BRAND_SPOOFS))
    domain = rng.choice(_BRAND_SPOOFS[brand])
    host = rng.choice(
        (
            domain,
            f"login.{domain}",
            f"{rng.randint(10, 250)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "bit.ly",
        )
    )
    subject = rng.choice(
        (
            f"Action required: verify your {brand} account",
            f"Your {brand} account will be suspended",
            "Unusual sign-in activity",
            "Mailbox is full - action required",
            f"{brand}: payment declined",
        )
    )
    body = rng.choice(
        (
            f"Dear customer, we detected unusual activity. Please verify your account within 24 hours or it will be locked. Sign in here: https://{host}/secure/login",
            f"Your password expires today. Confirm your credentials to keep access: http://{host}/reset?u={recipient}",
            f"Security alert: update your payment details at https://{host}/billing to avoid suspension.",
        )
    )
    legit = rng.random() < 0.15  # some phish come from a compromised real account that passes auth
    if legit:
        host = rng.choice(("sharepoint.com", "docs.google.com", "1drv.ms", "dropbox.com"))
        subject = rng.choice(("Shared document: Q4 plan", "Please review the attached proposal", "Document for you"))
        body = f"I have shared a document with you. Open it here: https://{host}/s/{rng.randint(1000, 9999)}"
    return {
        "from": f"security@{domain}" if not legit else f"{_person(rng)}@{rng.choice(_FREE_MAIL)}",
        "reply_to": f"support@{rng.choice(_BRAND_SPOOFS[brand])}" if rng.random() < 0.5 else None,
        "subject": subject,
        "body_text": body,
        "urls": [f"https://{host}/secure/login"],
        "attachments": []
        if rng.random() < 0.85
        else [
            {
                "name": "secure-message.html",
                "content_type": "text/html",
                "size_bytes": rng.randint(2_000, 9_000),
                "sha256": _sha(rng),
            }
        ],
        "headers": {},
        "auth": _auth(rng, pass_probability=0.85 if legit else 0.2),
    }


def _invoice_fraud(rng: random.Random, tenant: str, recipient: str) -> dict[str, Any]:
    ceo = _person(rng)
    if rng.random() < 0.3:  # the opener of a BEC thread: nothing but a free-mail sender and a short ask
        return {
            "from": f"{ceo}@{rng.choice(_FREE_MAIL)}",
            "reply_to": None,
            "subject": rng.choice(("Are you at your desk?", "Quick question", "Hi")),
            "body_text": "Are you available? I need you to handle something for me today. Sent from my phone",
            "urls": [],
            "attachments": [],
            "headers": {},
            "auth": _auth(rng, pass_probability=0.9),
        }
    sender = f"{ceo}@{rng.choice(_FREE_MAIL)}" if rng.random() < 0.6 else f"{ceo}@{tenant}-corp.com"
    return {
        "from": sender,
        "reply_to": f"{ceo}.office@{rng.choice(_FREE_MAIL)}" if rng.random() < 0.7 else None,
        "subject": rng.choice(
            (
                "Urgent wire transfer",
                "Invoice overdue",
                "Re: payment to new supplier",
                "Updated bank details",
                "Quick favour - gift cards",
            )
        ),
        "body_text": rng.choice(
            (
                "Please process an urgent wire transfer today to our new supplier. Bank details and IBAN attached. Keep this confidential.",
                "The attached invoice is overdue. Our bank details have changed, please update the beneficiary before payment.",
                "I need you to buy gift cards for a client, it is urgent. Reply with the codes.",
            )
        ),
        "urls": [],
        "attachments": _maybe_pdf(rng, absent_probability=0.5, name="invoice_4471.pdf", size_bytes=(30_000, 90_000)),
        "headers": {},
        "auth": _auth(rng, pass_probability=0.7),
    }


def _maybe_pdf(
    rng: random.Random, *, absent_probability: float, name: str, size_bytes: tuple[int, int]
) -> list[dict[str, Any]]:
    """No attachment with `absent_probability`, else one PDF of a size in `size_bytes` (bytes)."""
    if rng.random() < absent_probability:
        return []
    return [{"name": name, "content_type": "application/pdf", "size_bytes": rng.randint(*size_bytes),
             "sha256": _sha(rng)}]


def _malware(rng: random.Random, tenant: str, recipient: str) -> dict[str, Any]:
    name = rng.choice(
        (
            "invoice.pdf.exe",
            "scan_0042.zip",
            "order-details.docm",
            "remittance.xlsm",
            "payment.iso",
            "statement.js",
            "delivery_note.rar",
            "report.pdf",
        )
    )
    domain = rng.choice(("fedex-delivery.top", "billing-dept.info", "scanner.local-office.xyz", rng.choice(_FREE_MAIL)))
    return {
        "from": f"{_person(rng)}@{domain}",
        "reply_to": None,
        "subject": rng.choice(("Scanned document", "Invoice attached", "Your order details", "Delivery failed")),
        "body_text": rng.choice(
            (
                "Please see the attached document.",
                "Open the attachment to view your invoice.",
                "Find the scan attached. Enable content to view.",
            )
        ),
        "urls": [],
        "attachments": [
            {
                "name": name,
                "content_type": "application/octet-stream",
                "size_bytes": rng.randint(20_000, 400_000),
                "sha256": _sha(rng),
            }
        ],
        "headers": {"x-mailer": "Microsoft Outlook 16.0"},
        "auth": _auth(rng, pass_probability=0.3),
    }


def _newsletter(rng: random.Random, tenant: str, recipient: str) -> dict[str, Any]:
    domain = rng.choice(_NEWSLETTER_SENDERS)
    links = [f"https://{domain}/article/{rng.randint(1, 9999)}" for _ in range(rng.randint(3, 12))]
    if rng.random() < 0.2:
        links.append("https://bit.ly/" + rng.randbytes(4).hex()[:7])
    return {
        "from": f"newsletter@{domain}",
        "reply_to": f"no-reply@{domain}",
        "subject": rng.choice(
            (
                "This week's top stories",
                "Your weekly digest",
                "Last chance: 20% off ends today",
                "New arrivals you'll love",
            )
        ),
        "body_text": " ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(4, 10))),
        "urls": links,
        "attachments": [],
        "headers": {"list-unsubscribe": f"<https://{domain}/unsubscribe>"},
        "auth": _auth(rng, pass_probability=0.95),
    }


def _receipt(rng: random.Random, tenant: str, recipient: str) -> dict[str, Any]:
    if rng.random() < 0.15:  # a genuine account notice: credential words, a brand's real domain
        brand = rng.choice(("paypal.com", "microsoft.com", "apple.com", "amazon.com", "google.com"))
        return {
            "from": f"no-reply@accounts.{brand}",
            "reply_to": None,
            "subject": rng.choice(("Password reset requested", "New sign-in to your account", "Verify your email")),
            "body_text": "We received a request to reset your password. If this was you, sign in to confirm your "
            f"account: https://accounts.{brand}/reset. If not, you can ignore this message.",
            "urls": [f"https://accounts.{brand}/reset"],
            "attachments": [],
            "headers": {},
            "auth": _auth(rng, pass_probability=0.9),
        }
    domain = rng.choice(_RECEIPT_SENDERS)
    return {
        "from": f"receipts@{domain}",
        "reply_to": None,
        "subject": rng.choice(
            ("Your receipt", "Payment received - thank you", "Your invoice for November", "Order confirmation")
        ),
        "body_text": f"Thanks for your payment of {rng.randint(3, 400)}.{rng.randint(0, 99):02d} EUR. "
        + _sentence(rng, 10),
        "urls": [f"https://{domain}/orders/{rng.randint(10_000, 99_999)}"],
        "attachments": _maybe_pdf(rng, absent_probability=0.6, name="receipt.pdf", size_bytes=(20_000, 80_000)),
        "headers": {},
        "auth": _auth(rng, pass_probability=0.95),
    }


def _internal(rng: random.Random, tenant: str, recipient: str) -> dict[str, Any]:
    domain = f"{tenant}.com" if rng.random() > 0.08 else rng.choice(_FREE_MAIL)  # staff writing from home
    attachments = []
    if rng.random() < 0.3:
        attachments.append(
            {
                "name": rng.choice(("notes.docx", "budget.xlsx", "slides.pdf", "diagram.png")),
                "content_type": "application/octet-stream",
                "size_bytes": rng.randint(10_000, 2_000_000),
                "sha256": _sha(rng),
            }
        )
    return {
        "from": f"{_person(rng)}@{domain}",
        "reply_to": None,
        "subject": rng.choice(("Re: ", "", "Fwd: ", "")) + _sentence(rng, rng.randint(2, 5)).rstrip("."),
        "body_text": " ".join(_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(1, 6)))
        + (" The supplier invoice is attached, payment is urgent." if rng.random() < 0.1 else ""),
        "urls": [f"https://wiki.{domain}/page/{rng.randint(1, 500)}"] if rng.random() < 0.4 else [],
        "attachments": attachments,
        "headers": {},
        "auth": _auth(rng, pass_probability=0.97),
    }


_BUILDERS = {
    EventKind.CREDENTIAL_PHISHING: _credential_phishing,
    EventKind.INVOICE_FRAUD: _invoice_fraud,
    EventKind.MALWARE: _malware,
    EventKind.NEWSLETTER: _newsletter,
    EventKind.RECEIPT: _receipt,
    EventKind.INTERNAL: _internal,
}


def generate_events(count: int, *, seed: int = 7, start: datetime | None = None) -> Iterator[LabelledEvent]:
    """Yield ``count`` labelled events (``EmailEvent``-shaped dicts), deterministic for a given ``seed``.

    Message ids are unique within one call (``<seed>-<index>@gen.scorefleet``); received times
    advance by a few hundred milliseconds from ``start`` (default 2026-11-01T00:00:00Z).
    """
    rng = random.Random(seed)
    kinds = list(KIND_WEIGHTS)
    weights = [KIND_WEIGHTS[kind] for kind in kinds]
    clock = start or datetime(2026, 11, 1, tzinfo=UTC)
    for index in range(count):
        kind = rng.choices(kinds, weights)[0]
        tenant = rng.choice(_TENANTS)
        recipient = f"{_person(rng)}@{tenant}.com"
        fields = _BUILDERS[kind](rng, tenant, recipient)
        clock += timedelta(milliseconds=rng.randint(1, 400))
        sent_at: str | None = (clock - timedelta(seconds=rng.randint(1, 120))).isoformat()
        if rng.random() < 0.05:
            sent_at = None  # no or unparseable Date header: normal input
        event = {
            "message_id": f"{seed}-{index}@gen.scorefleet",
            "tenant_id": tenant,
            "received_at": clock.isoformat(),
            "sent_at": sent_at,
            "to": [recipient] + ([f"{_person(rng)}@{tenant}.com"] if rng.random() < 0.2 else []),
            **fields,
        }
        label = int(kind in MALICIOUS_KINDS)
        if rng.random() < LABEL_NOISE:
            label = 1 - label  # analysts disagree on some mail
        yield LabelledEvent(event=event, kind=kind, label=label)


def _html_body(event: dict[str, Any], rng: random.Random) -> str:
    links = "".join(f'<p><a href="{url}" style="color:#0066cc">{url}</a></p>' for url in event["urls"])
    filler = "".join(
        f'<tr><td style="padding:8px;font-family:Arial,sans-serif;font-size:14px">{_sentence(rng, 14)}</td></tr>'
        for _ in range(rng.randint(50, 130))
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;padding:0}'
        '.wrap{max-width:600px;margin:0 auto}</style></head><body><div class="wrap"><table>'
        f"<tr><td><p>{event['body_text']}</p></td></tr>{filler}</table>{links}</div></body></html>"
    )


def render_rfc822(event: dict[str, Any], *, seed: int = 0) -> bytes:
    """Render one generated event as a raw RFC 5322 message of realistic size (median ~20 KB, ~10-60 KB).

    multipart/mixed with a multipart/alternative (text + HTML) body and base64 attachments
    (attachment content is random bytes capped at 24 KB, declared size kept in the name only).
    The Authentication-Results header carries the event's SPF/DKIM/DMARC results.
    """
    rng = random.Random(f"{seed}:{event['message_id']}")
    boundary_mixed = f"mixed-{rng.getrandbits(64):016x}"
    boundary_alt = f"alt-{rng.getrandbits(64):016x}"
    auth = event.get("auth", {})
    lines = [
        "Return-Path: <bounce@" + (event.get("from") or "unknown@invalid").rpartition("@")[2] + ">",
        "Received: from mx.example.net (mx.example.net [203.0.113.7]) by mx.scorefleet.test with ESMTPS",
        f"Authentication-Results: mx.scorefleet.test; spf={auth.get('spf', 'none')}; "
        f"dkim={auth.get('dkim', 'none')}; dmarc={auth.get('dmarc', 'none')}",
        f"Message-ID: <{event['message_id']}>",
    ]
    if event.get("sent_at"):
        lines.append("Date: " + format_datetime(datetime.fromisoformat(event["sent_at"])))
    if event.get("from"):
        lines.append(f'From: "{event["from"].split("@")[0]}" <{event["from"]}>')
    if event.get("reply_to"):
        lines.append(f"Reply-To: <{event['reply_to']}>")
    lines.append("To: " + ", ".join(event["to"]))
    lines.append(f"Subject: {event['subject']}")
    for key, value in event.get("headers", {}).items():
        lines.append(f"{key.title()}: {value}")
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{boundary_mixed}"', ""]
    text = event["body_text"] + "\n\n" + "\n".join(event["urls"])
    parts = [
        f"--{boundary_mixed}",
        f'Content-Type: multipart/alternative; boundary="{boundary_alt}"',
        "",
        f"--{boundary_alt}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 7bit",
        "",
        text,
        f"--{boundary_alt}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: 7bit",
        "",
        _html_body(event, rng),
        f"--{boundary_alt}--",
    ]
    for attachment in event.get("attachments", []):
        content = rng.randbytes(min(attachment["size_bytes"], 24_000))
        encoded = base64.encodebytes(content).decode("ascii")
        parts += [
            f"--{boundary_mixed}",
            f'Content-Type: {attachment["content_type"]}; name="{attachment["name"]}"',
            f'Content-Disposition: attachment; filename="{attachment["name"]}"',
            "Content-Transfer-Encoding: base64",
            "",
            encoded,
        ]
    parts.append(f"--{boundary_mixed}--")
    return ("\r\n".join(lines) + "\r\n" + "\r\n".join(parts) + "\r\n").encode("utf-8")

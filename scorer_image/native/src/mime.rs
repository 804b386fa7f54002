//! Raw RFC 5322 messages -> the fields of an `EmailEvent`, parsed with the `mailparse` crate.
//!
//! `scorer/decode.py` is the caller and holds the contract: this is its fast path, and what it
//! refuses (`None`) is retried with Python's `email` package. Parts are classified as the
//! standard library's walk in `decode.py` does, so both paths read a message the same way: a
//! leaf part with a file name (Content-Disposition `filename`, else Content-Type `name`) or an
//! `attachment` disposition is an attachment; else `text/plain` and `text/html` parts are the
//! body; an embedded `message/rfc822` part is read as the mail it holds (to `MAX_EMBEDDED_DEPTH`).
//! `mailparse` bounds multipart nesting itself (100 levels), so no input recurses without end.
//!
//! A header block that ends without its empty line (RFC 5322 2.1: real mail has this defect)
//! ends, as in the stdlib, at the first line that cannot be a header field; `mailparse` alone
//! would read on, taking body lines (and the first MIME boundary) for headers.

use mailparse::{
    DispositionType, MailAddr, MailHeader, MailHeaderMap, ParsedMail, addrparse_header, dateparse, parse_header,
    parse_mail,
};
use sha2::{Digest, Sha256};

/// How many `message/rfc822` parts deep a message is read; deeper ones are skipped.
const MAX_EMBEDDED_DEPTH: usize = 8;

/// Bytes of a header's raw value that are decoded; the rest is dropped. `mailparse`'s RFC 2047
/// decoding is quadratic in the number of encoded words (40,000 in a 560 KB Subject took 1.3 s)
/// and cubic in `=?` starts without an end (`" =?x?=y"` repeated: 24 ms at 3.5 KB, 1.1 s at
/// 14 KB); 4 KiB holds any real Subject and about 150 To addresses.
const MAX_HEADER_BYTES: usize = 4 * 1024;

/// One attachment: its file name ("" when it has none), MIME type, decoded size in bytes and the
/// SHA-256 of its decoded content (lowercase hex).
#[derive(Debug, PartialEq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size_bytes: usize,
    pub sha256: String,
}

/// The fields of one message that make an `EmailEvent`. Header values are unfolded and RFC 2047
/// decoded; each is the first header of its name.
#[derive(Debug, Default, PartialEq)]
pub struct Fields {
    /// The Message-ID header as written (angle brackets included); "" when absent.
    pub message_id: String,
    /// The Date header in seconds since the epoch; `None` when absent or unparseable.
    pub sent_at: Option<i64>,
    pub from_address: Option<String>,
    pub reply_to: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    /// The `text/plain` parts, joined by newlines.
    pub plain: String,
    /// The `text/html` parts, joined by newlines.
    pub markup: String,
    pub attachments: Vec<Attachment>,
    /// `(name, value)` of each wanted header the message has, in the order asked for.
    pub headers: Vec<(String, String)>,
    pub authentication_results: Option<String>,
}

/// Reads `raw` into `Fields`, keeping the headers named in `kept_headers` (lowercase).
///
/// `None` when `mailparse` refuses the message, a body part does not decode (bad base64, say),
/// or there is no header at all: the caller's fallback decides then.
pub fn parse(raw: &[u8], kept_headers: &[&str]) -> Option<Fields> {
    let repaired = restore_header_separator(raw);
    let mail = parse_mail(repaired.as_deref().unwrap_or(raw)).ok()?;
    if mail.headers.is_empty() {
        return None;
    }
    let value = |name: &str| read_header(&mail, name, false, |header| header.get_value());
    let mut fields = Fields {
        message_id: value("Message-ID").unwrap_or_default(),
        sent_at: value("Date").and_then(|date| parse_date(&date)),
        from_address: first_address(&mail, "From"),
        reply_to: first_address(&mail, "Reply-To"),
        to: addresses(&mail, "To"),
        subject: value("Subject").unwrap_or_default(),
        headers: kept_headers
            .iter()
            .filter_map(|&name| Some((name.to_owned(), value(name)?)))
            .collect(),
        authentication_results: value("Authentication-Results"),
        ..Fields::default()
    };
    let mut plain: Vec<String> = Vec::new();
    let mut markup: Vec<String> = Vec::new();
    walk(&mail, 0, &mut plain, &mut markup, &mut fields.attachments)?;
    fields.plain = plain.join("\n");
    fields.markup = markup.join("\n");
    Some(fields)
}

/// `raw` with an empty line put where its header block ends without one, or `None` when it needs
/// none. The block ends at the first line that is not a header field as the stdlib's parser
/// sees one: not a folded continuation (leading space or tab), not an mbox `From ` line, and
/// without a colon. One pass over the header block; only a defective message is copied.
fn restore_header_separator(raw: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    while at < raw.len() {
        let rest = &raw[at..];
        let newline = memchr::memchr(b'\n', rest);
        let line = &rest[..newline.unwrap_or(rest.len())];
        if line.is_empty() || line[0] == b'\r' {
            return None;
        }
        let continuation = matches!(line[0], b' ' | b'\t');
        if !continuation && !line.starts_with(b"From ") && memchr::memchr(b':', line).is_none() {
            let mut repaired = Vec::with_capacity(raw.len() + 1);
            repaired.extend_from_slice(&raw[..at]);
            repaired.push(b'\n');
            repaired.extend_from_slice(rest);
            return Some(repaired);
        }
        at += newline? + 1;
    }
    None
}

/// Visits the leaf parts of `part` in order. `None` when a part's body does not decode.
fn walk(
    part: &ParsedMail<'_>,
    depth: usize,
    plain: &mut Vec<String>,
    markup: &mut Vec<String>,
    attachments: &mut Vec<Attachment>,
) -> Option<()> {
    if !part.subparts.is_empty() {
        return part
            .subparts
            .iter()
            .try_for_each(|subpart| walk(subpart, depth, plain, markup, attachments));
    }
    let content_type = part.ctype.mimetype.as_str();
    if content_type == "message/rfc822" {
        if depth < MAX_EMBEDDED_DEPTH {
            let body = part.get_body_raw().ok()?;
            if let Ok(embedded) = parse_mail(&body) {
                walk(&embedded, depth + 1, plain, markup, attachments)?;
            }
        }
        return Some(());
    }
    let disposition = part.get_content_disposition();
    let name = disposition
        .params
        .get("filename")
        .or_else(|| part.ctype.params.get("name"))
        .filter(|name| !name.is_empty());
    if name.is_some() || disposition.disposition == DispositionType::Attachment {
        let content = part.get_body_raw().ok()?;
        attachments.push(Attachment {
            name: name.cloned().unwrap_or_default(),
            content_type: content_type.to_owned(),
            size_bytes: content.len(),
            sha256: hex::encode(Sha256::digest(&content)),
        });
    } else if content_type == "text/plain" {
        plain.push(text_of(part)?);
    } else if content_type == "text/html" {
        markup.push(text_of(part)?);
    }
    Some(())
}

/// A text part decoded by its charset, or as UTF-8 (invalid bytes as U+FFFD) when it names none,
/// as the stdlib path does; `mailparse` alone would read it as US-ASCII.
fn text_of(part: &ParsedMail<'_>) -> Option<String> {
    if part.ctype.params.contains_key("charset") {
        return part.get_body().ok();
    }
    let bytes = part.get_body_raw().ok()?;
    Some(String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// A Date header in seconds since the epoch. `mailparse::dateparse` answers 0 (the epoch) for a
/// value that never reaches a year ("the day after tomorrow"), so 0 counts as no date.
fn parse_date(value: &str) -> Option<i64> {
    dateparse(value).ok().filter(|&seconds| seconds != 0)
}

/// `read` applied to the first header called `name`, its raw value cut to `MAX_HEADER_BYTES`
/// when longer: after the last `,` within the limit for an address list (`list`), so the list
/// stays parseable, else at the last character boundary. `None` when there is no such header.
fn read_header<T>(mail: &ParsedMail<'_>, name: &str, list: bool, read: impl FnOnce(&MailHeader<'_>) -> T) -> Option<T> {
    let header = mail.headers.get_first_header(name)?;
    let raw = header.get_value_raw();
    if raw.len() <= MAX_HEADER_BYTES {
        return Some(read(header));
    }
    let window = &raw[..=MAX_HEADER_BYTES];
    let at_comma = list.then(|| window.iter().rposition(|&byte| byte == b',')).flatten();
    let cut = at_comma.unwrap_or_else(|| {
        (0..=MAX_HEADER_BYTES)
            .rev()
            .find(|&at| raw[at] & 0xc0 != 0x80)
            .unwrap_or(0)
    });
    let mut line = b"X: ".to_vec();
    line.extend_from_slice(&raw[..cut]);
    let (short, _) = parse_header(&line).ok()?;
    Some(read(&short))
}

/// Every mailbox address in the first header called `name`, groups flattened, in order; none
/// when the header is absent or is not an address list. `mailparse` (0.18) keeps the `,` after a
/// group's `;` on the next address (`Team: a@x;, b@y` gives `, b@y`); it is taken off here.
fn addresses(mail: &ParsedMail<'_>, name: &str) -> Vec<String> {
    let Some(Ok(list)) = read_header(mail, name, true, addrparse_header) else {
        return Vec::new();
    };
    list.iter()
        .flat_map(|address| match address {
            MailAddr::Single(single) => std::slice::from_ref(single),
            MailAddr::Group(group) => group.addrs.as_slice(),
        })
        .map(|single| single.addr.trim_start_matches([',', ' ', '\t']))
        .filter(|address| !address.is_empty())
        .map(str::to_owned)
        .collect()
}

fn first_address(mail: &ParsedMail<'_>, name: &str) -> Option<String> {
    addresses(mail, name).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::{Attachment, parse};

    const KEPT: &[&str] = &["x-mailer", "list-unsubscribe"];

    #[test]
    fn headers_addresses_and_date() {
        let raw = b"Message-ID: <abc@mail.example>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\
            From: \"Pay Pal\" <service@paypa1.com>\r\nReply-To: <collect@evil.xyz>\r\n\
            To: anna@acme.com, Team: ben@acme.com, cy@acme.com;, dee@acme.com\r\nSubject: =?utf-8?q?Verify_=E2=82=AC?=\r\n\
            X-Mailer: m 1\r\nAuthentication-Results: mx; spf=fail\r\n\r\nbody\r\n";
        let fields = parse(raw, KEPT).unwrap();
        assert_eq!(fields.message_id, "<abc@mail.example>");
        assert_eq!(fields.sent_at, Some(1_793_613_600));
        assert_eq!(fields.from_address.as_deref(), Some("service@paypa1.com"));
        assert_eq!(fields.reply_to.as_deref(), Some("collect@evil.xyz"));
        assert_eq!(
            fields.to,
            ["anna@acme.com", "ben@acme.com", "cy@acme.com", "dee@acme.com"]
        );
        assert_eq!(fields.subject, "Verify \u{20ac}");
        assert_eq!(fields.headers, [("x-mailer".to_owned(), "m 1".to_owned())]);
        assert_eq!(fields.authentication_results.as_deref(), Some("mx; spf=fail"));
        assert_eq!(fields.plain, "body\r\n");
    }

    #[test]
    fn long_headers_are_cut_before_decoding() {
        let mut raw = b"Subject: ".to_vec();
        raw.extend(b"=?utf-8?q?a?= ".repeat(40_000));
        raw.extend(b"\r\nX-Mailer: ");
        raw.extend("\u{e9}".repeat(10_000).as_bytes());
        raw.extend(b"\r\nTo: ");
        raw.extend(b"x@y.example, ".repeat(5_000));
        raw.extend(b"\r\n\r\nbody");
        let fields = parse(&raw, KEPT).unwrap();
        assert!(fields.subject.starts_with("aaa") && fields.subject.len() < super::MAX_HEADER_BYTES);
        // Cut at a character boundary: still UTF-8, not read as Latin-1.
        let mailer = &fields.headers[0].1;
        assert!(mailer.len() <= super::MAX_HEADER_BYTES && mailer.chars().all(|c| c == '\u{e9}'));
        assert!(fields.to.len() > 300 && fields.to.iter().all(|address| address == "x@y.example"));
    }

    #[test]
    fn missing_and_bad_headers_are_normal() {
        let fields = parse(b"Date: the day after tomorrow\r\nTo: not an address\r\n\r\nx", KEPT).unwrap();
        assert_eq!(
            (fields.sent_at, fields.from_address, fields.message_id.as_str()),
            (None, None, "")
        );
    }

    #[test]
    fn parts_are_classified_like_the_stdlib_walk() {
        let raw = b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
            --m\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n\
            --a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n\
            --a\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>h=C3=A9</p>\r\n--a--\r\n\
            --m\r\nContent-Type: text/plain; name=\"notes.txt\"\r\n\r\nnot body\r\n\
            --m\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\
            Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n\
            --m\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\ninner body\r\n--m--\r\n";
        let fields = parse(raw, KEPT).unwrap();
        assert_eq!(fields.plain, "hello\ninner body");
        assert_eq!(fields.markup, "<p>h\u{e9}</p>");
        assert_eq!(
            fields.attachments,
            [
                Attachment {
                    name: "notes.txt".to_owned(),
                    content_type: "text/plain".to_owned(),
                    size_bytes: 8,
                    sha256: "de1dd78ec9c5cc0534c531a4d61c68bc3995fac4934c971ea83d5d3c3d406c32".to_owned(),
                },
                Attachment {
                    name: String::new(),
                    content_type: "application/octet-stream".to_owned(),
                    size_bytes: 5,
                    sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn a_header_block_without_its_empty_line_ends_at_the_first_non_header() {
        let raw = b"From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\
            This is a multi-part message\r\n--a\r\nContent-Type: text/plain\r\n\r\nkept\r\n--a--\r\n";
        let fields = parse(raw, KEPT).unwrap();
        assert_eq!((fields.subject.as_str(), fields.plain.as_str()), ("s", "kept"));
    }

    #[test]
    fn refuses_what_the_fallback_should_see() {
        assert!(parse(b"", KEPT).is_none());
        assert!(parse(b"\r\n\r\njust a body", KEPT).is_none());
        assert!(parse(&(0..=255u8).collect::<Vec<u8>>(), KEPT).is_none());
        let bad_base64 =
            b"From: a@b.example\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!@@@@\r\n";
        assert!(parse(bad_base64, KEPT).is_none());
    }
}

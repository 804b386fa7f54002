//! One `scorer.events.EmailEvent` -> one row of the model's input: reads the event's attributes
//! through pyo3 and applies the rules of `rules`.
//!
//! Values are computed in `f64` and stored as `f32`, as the Python implementation did (float64
//! values cast to the float32 matrix): counts `log1p`-scaled, flags 0.0/1.0, fractions in [0, 1].

use std::borrow::Cow;
use std::sync::LazyLock;

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::rules::{
    AttachmentSummary, FREE_MAIL_DOMAINS, LookalikeMemo, UrlSummary, auth_failed, auth_missing, domain_of,
    is_list_unsubscribe, is_reply_or_forward, lowercase_phrase_hits,
};

macro_rules! features {
    ($($feature:ident => $name:literal,)+) => {
        /// The model's input columns, in `FEATURE_NAMES` order.
        #[derive(Clone, Copy)]
        enum Feature {
            $($feature,)+
        }

        /// Column names in order: the contract with model artifacts (a model is trained on this
        /// order). Add features only at the end, together with a new model version.
        pub const FEATURE_NAMES: &[&str] = &[$($name,)+];
    };
}

features! {
    SpfFail => "spf_fail",
    DkimFail => "dkim_fail",
    DmarcFail => "dmarc_fail",
    AuthNone => "auth_none",
    ReplyToMismatch => "reply_to_mismatch",
    FromLookalikeBrand => "from_lookalike_brand",
    FromFreeMail => "from_free_mail",
    FromMissing => "from_missing",
    SentAtMissing => "sent_at_missing",
    SenderInternal => "sender_internal",
    UrlCountLog => "url_count_log",
    UrlIpHost => "url_ip_host",
    UrlRiskyTld => "url_risky_tld",
    UrlLookalikeBrand => "url_lookalike_brand",
    UrlShortener => "url_shortener",
    UrlForeignDomainFraction => "url_foreign_domain_fraction",
    AttachmentCountLog => "attachment_count_log",
    AttachmentExecutable => "attachment_executable",
    AttachmentMacroDocument => "attachment_macro_document",
    AttachmentArchive => "attachment_archive",
    AttachmentDoubleExtension => "attachment_double_extension",
    AttachmentHtml => "attachment_html",
    SubjectUrgencyHits => "subject_urgency_hits",
    BodyCredentialHits => "body_credential_hits",
    BodyPaymentHits => "body_payment_hits",
    BodyLengthLog => "body_length_log",
    RecipientCountLog => "recipient_count_log",
    ListUnsubscribe => "list_unsubscribe",
    SubjectReplyOrForward => "subject_reply_or_forward",
}

/// The number of columns.
pub const FEATURE_COUNT: usize = FEATURE_NAMES.len();

/// One row of features.
pub type Row = [f32; FEATURE_COUNT];

/// What one batch's rows share: a buffer for a lowercased subject or body, and the look-alike
/// answers for the domains seen so far.
#[derive(Default)]
pub struct Scratch {
    lowercase: String,
    lookalikes: LookalikeMemo,
}

/// The text of a Python `str` (or subclass, such as a `StrEnum` member), borrowed from it.
///
/// A `str` holding lone surrogates (possible in one built in Python; JSON decoding rejects them)
/// has no UTF-8 form: each surrogate is read as U+FFFD, one character for one, so lengths and
/// every rule but the equality of two such texts stay as in Python. Raises `TypeError` naming
/// `field` for anything but a `str`.
pub fn text<'a>(value: &'a Bound<'_, PyAny>, field: &str) -> PyResult<Cow<'a, str>> {
    let string = value.cast::<PyString>().map_err(|_| {
        let type_name = value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |name| name.to_string());
        PyTypeError::new_err(format!("{field}: expected str, got {type_name}"))
    })?;
    match string.to_str() {
        Ok(borrowed) => Ok(Cow::Borrowed(borrowed)),
        Err(_) => {
            let py = value.py();
            let utf32 = string.call_method1(intern!(py, "encode"), ("utf-32-le", "surrogatepass"))?;
            let utf32 = utf32.cast::<PyBytes>()?.as_bytes();
            Ok(Cow::Owned(
                utf32
                    .chunks_exact(4)
                    .map(|unit| {
                        let code = u32::from_le_bytes([unit[0], unit[1], unit[2], unit[3]]);
                        char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                    })
                    .collect(),
            ))
        }
    }
}

/// Calls `visit` with each item of `items` (each key of a dict), in order: lists and dicts are
/// read directly, anything else through Python's iteration protocol.
fn for_each_item(items: &Bound<'_, PyAny>, mut visit: impl FnMut(&Bound<'_, PyAny>) -> PyResult<()>) -> PyResult<()> {
    if let Ok(list) = items.cast::<PyList>() {
        list.iter().try_for_each(|item| visit(&item))
    } else if let Ok(dict) = items.cast::<PyDict>() {
        dict.iter().try_for_each(|(key, _)| visit(&key))
    } else {
        items.try_iter()?.try_for_each(|item| visit(&item?))
    }
}

fn optional_text<'a>(value: &'a Bound<'_, PyAny>, field: &str) -> PyResult<Option<Cow<'a, str>>> {
    if value.is_none() {
        Ok(None)
    } else {
        text(value, field).map(Some)
    }
}

/// An authentication result's value; `None` for anything but a `str` (which fails no check).
fn auth_value<'a>(value: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    value.cast::<PyString>().ok()?.to_str().ok()
}

fn flag(value: bool) -> f64 {
    if value { 1.0 } else { 0.0 }
}

/// `log1p` of the counts that most events have, computed once (the same values as computing them).
static SMALL_COUNT_LOG1P: LazyLock<[f64; 64]> = LazyLock::new(|| std::array::from_fn(|count| (count as f64).ln_1p()));

/// `log1p(count)` in float64, as Python's `math.log1p` and NumPy's `np.log1p` give it.
fn log1p_count(count: u64) -> f64 {
    usize::try_from(count)
        .ok()
        .and_then(|small| SMALL_COUNT_LOG1P.get(small))
        .copied()
        .unwrap_or_else(|| (count as f64).ln_1p())
}

/// Computes the features of `event` (an `EmailEvent`) into `row`.
///
/// Raises what reading the event raises (`AttributeError` for a missing attribute, `TypeError`
/// from `text` for a text field that is not a `str`).
pub fn write_row(event: &Bound<'_, PyAny>, scratch: &mut Scratch, row: &mut Row) -> PyResult<()> {
    let py = event.py();
    let auth = event.getattr(intern!(py, "auth"))?;
    let spf = auth.getattr(intern!(py, "spf"))?;
    let dkim = auth.getattr(intern!(py, "dkim"))?;
    let dmarc = auth.getattr(intern!(py, "dmarc"))?;
    let (spf, dkim, dmarc) = (auth_value(&spf), auth_value(&dkim), auth_value(&dmarc));

    let from_address = event.getattr(intern!(py, "from_address"))?;
    let from_address = optional_text(&from_address, "EmailEvent.from_address")?;
    let from_domain = domain_of(from_address.as_deref());
    let reply_to = event.getattr(intern!(py, "reply_to"))?;
    let reply_to = optional_text(&reply_to, "EmailEvent.reply_to")?;
    let reply_domain = domain_of(reply_to.as_deref());
    let sent_at_missing = event.getattr(intern!(py, "sent_at"))?.is_none();

    let mut recipients = 0u64;
    let mut sender_internal = false;
    for_each_item(&event.getattr(intern!(py, "to"))?, |address| {
        recipients += 1;
        if !sender_internal && !from_domain.is_empty() {
            sender_internal = domain_of(Some(&text(address, "EmailEvent.to[]")?)) == from_domain;
        }
        Ok(())
    })?;

    let mut urls = UrlSummary::default();
    for_each_item(&event.getattr(intern!(py, "urls"))?, |url| {
        urls.add(&text(url, "EmailEvent.urls[]")?, &from_domain, &mut scratch.lookalikes);
        Ok(())
    })?;

    let mut attachments = AttachmentSummary::default();
    for_each_item(&event.getattr(intern!(py, "attachments"))?, |attachment| {
        let name = attachment.getattr(intern!(py, "name"))?;
        attachments.add(&text(&name, "EmailEvent.attachments[].name")?);
        Ok(())
    })?;

    let mut list_unsubscribe = false;
    for_each_item(&event.getattr(intern!(py, "headers"))?, |header_name| {
        if !list_unsubscribe {
            list_unsubscribe = is_list_unsubscribe(&text(header_name, "EmailEvent.headers key")?);
        }
        Ok(())
    })?;

    let subject = event.getattr(intern!(py, "subject"))?;
    let subject = text(&subject, "EmailEvent.subject")?;
    let (subject_hits, _) = lowercase_phrase_hits(&subject, &mut scratch.lowercase);
    let body = event.getattr(intern!(py, "body_text"))?;
    let (body_hits, body_len) = lowercase_phrase_hits(&text(&body, "EmailEvent.body_text")?, &mut scratch.lowercase);

    let mut set = |feature: Feature, value: f64| row[feature as usize] = value as f32;
    set(Feature::SpfFail, flag(auth_failed(spf)));
    set(Feature::DkimFail, flag(auth_failed(dkim)));
    set(Feature::DmarcFail, flag(auth_failed(dmarc)));
    set(Feature::AuthNone, flag(auth_missing(spf) && auth_missing(dkim)));
    set(
        Feature::ReplyToMismatch,
        flag(!reply_domain.is_empty() && reply_domain != from_domain),
    );
    set(
        Feature::FromLookalikeBrand,
        flag(scratch.lookalikes.is_lookalike_domain(&from_domain)),
    );
    set(Feature::FromFreeMail, flag(FREE_MAIL_DOMAINS.contains(&&*from_domain)));
    set(Feature::FromMissing, flag(from_domain.is_empty()));
    set(Feature::SentAtMissing, flag(sent_at_missing));
    set(Feature::SenderInternal, flag(sender_internal));
    set(Feature::UrlCountLog, log1p_count(urls.count));
    set(Feature::UrlIpHost, flag(urls.ip_host));
    set(Feature::UrlRiskyTld, flag(urls.risky_tld));
    set(Feature::UrlLookalikeBrand, flag(urls.lookalike_brand));
    set(Feature::UrlShortener, flag(urls.shortener));
    set(Feature::UrlForeignDomainFraction, urls.foreign_fraction());
    set(Feature::AttachmentCountLog, log1p_count(attachments.count));
    set(Feature::AttachmentExecutable, flag(attachments.executable));
    set(Feature::AttachmentMacroDocument, flag(attachments.macro_document));
    set(Feature::AttachmentArchive, flag(attachments.archive));
    set(Feature::AttachmentDoubleExtension, flag(attachments.double_extension));
    set(Feature::AttachmentHtml, flag(attachments.html));
    set(Feature::SubjectUrgencyHits, subject_hits.urgency as f64);
    set(Feature::BodyCredentialHits, log1p_count(body_hits.credential));
    set(
        Feature::BodyPaymentHits,
        log1p_count(body_hits.payment + subject_hits.payment),
    );
    set(Feature::BodyLengthLog, log1p_count(body_len as u64));
    set(Feature::RecipientCountLog, log1p_count(recipients));
    set(Feature::ListUnsubscribe, flag(list_unsubscribe));
    set(Feature::SubjectReplyOrForward, flag(is_reply_or_forward(&subject)));
    Ok(())
}

//! `scorer_native`: the hot path of the scorefleet scorer that is not Kafka or the model.
//!
//! Two callers, each the documented Python face of its half:
//! - `scorer/features.py`: a batch of `scorer.events.EmailEvent` values -> the model's float32
//!   input matrix. The rules and their word lists live in `rules`, Python's string semantics that
//!   they keep in `pystr`, the reading of one event and the column order in `row`. Matrices cross
//!   into Python as little-endian `bytearray`s (writable, so NumPy views of them are too).
//! - `scorer/decode.py`: a raw RFC 5322 message -> the fields of an event (`mime`, on the
//!   `mailparse` crate), and the URLs of a text (`urls`). Only the fields cross into Python: the
//!   HTML part stays in Rust unless the event's body text has to come from it.

mod mime;
mod pystr;
mod row;
mod rules;
mod urls;
#[rustfmt::skip]
mod unicode_tables;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyList, PyTuple};

use row::{FEATURE_NAMES, Row, Scratch, text, write_row};

/// `values` as one little-endian byte string.
fn little_endian_bytes<'py, const WIDTH: usize, T: Copy>(
    py: Python<'py>,
    values: &[T],
    to_le_bytes: impl Fn(T) -> [u8; WIDTH],
) -> PyResult<Bound<'py, PyByteArray>> {
    PyByteArray::new_with(py, values.len() * WIDTH, |buffer| {
        for (chunk, &value) in buffer.chunks_exact_mut(WIDTH).zip(values) {
            chunk.copy_from_slice(&to_le_bytes(value));
        }
        Ok(())
    })
}

/// The features of a batch of events: float32 little-endian, row-major, `len(events)` rows of
/// `len(FEATURE_NAMES)` columns. Raises `AttributeError`/`TypeError` for an event that is not an
/// `EmailEvent`, naming the field.
#[pyfunction]
fn feature_matrix<'py>(events: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyByteArray>> {
    let mut values: Vec<f32> = Vec::new();
    let mut scratch = Scratch::default();
    let mut row: Row = [0.0; row::FEATURE_COUNT];
    for event in events.try_iter()? {
        write_row(&event?, &mut scratch, &mut row)?;
        values.extend_from_slice(&row);
    }
    little_endian_bytes(events.py(), &values, f32::to_le_bytes)
}

/// Phrase hits of each text as given (case-sensitive): int64 little-endian, row-major,
/// `len(texts)` rows of (urgency, credential, payment) occurrence counts.
#[pyfunction]
fn phrase_counts<'py>(texts: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyByteArray>> {
    let mut values: Vec<i64> = Vec::new();
    for item in texts.try_iter()? {
        let hits = rules::phrase_hits(&text(&item?, "texts[]")?);
        values.extend([hits.urgency, hits.credential, hits.payment].map(|count| count as i64));
    }
    little_endian_bytes(texts.py(), &values, i64::to_le_bytes)
}

/// The lowercase host of a URL, trailing dots removed; "" when there is none.
#[pyfunction]
fn url_host(url: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(rules::url_host(&text(url, "url")?).into_owned())
}

/// True when the domain imitates a brand without being it (case-sensitive).
#[pyfunction]
fn is_lookalike_domain(domain: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(rules::is_lookalike_domain(&text(domain, "domain")?))
}

/// URLs in `texts` (each a `str`), in order of first appearance, unique, at most `limit`.
#[pyfunction]
fn find_urls(texts: &Bound<'_, PyAny>, limit: usize) -> PyResult<Vec<String>> {
    let texts = texts
        .try_iter()?
        .map(|item| Ok(text(&item?, "texts[]")?.into_owned()))
        .collect::<PyResult<Vec<String>>>()?;
    Ok(urls::find_urls(texts.iter().map(String::as_str), limit))
}

/// The fields of a raw RFC 5322 message as a dict, or `None` when the parser refuses it.
///
/// Keys: `message_id` (as written, "" when absent), `sent_at` (seconds since the epoch or None),
/// `from_address`, `reply_to` (str or None), `to` (list), `subject`, `plain` (text parts joined by
/// newlines), `markup` (the HTML parts, only when `plain` is blank by Python's `str.strip()`,
/// else ""), `urls` (of plain then HTML, at most `url_limit`), `attachments` (dicts of `name`,
/// `content_type`, `size_bytes`, `sha256`), `headers` (those of `kept_headers` present, by
/// lowercase name), `authentication_results` (str or None). Parsing runs without the GIL; a panic
/// in it counts as a refusal.
#[pyfunction]
fn parse_rfc822<'py>(
    py: Python<'py>,
    raw: &[u8],
    kept_headers: Vec<String>,
    url_limit: usize,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    // A panic inside the parser (a bug in it, met by hostile input) refuses the message like a
    // parse error does, so the stdlib fallback or the dead-letter topic gets it, not the loop.
    let parsed = py.detach(|| {
        let kept: Vec<&str> = kept_headers.iter().map(String::as_str).collect();
        std::panic::catch_unwind(|| {
            mime::parse(raw, &kept).map(|fields| {
                let found = urls::find_urls([fields.plain.as_str(), fields.markup.as_str()], url_limit);
                (fields, found)
            })
        })
        .ok()
        .flatten()
    });
    match parsed {
        Some((fields, found)) => fields_dict(py, fields, found).map(Some),
        None => Ok(None),
    }
}

/// `parse_rfc822`'s dict of one message's fields and URLs.
fn fields_dict<'py>(py: Python<'py>, fields: mime::Fields, found: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
    let markup = if pystr::strip(&fields.plain).is_empty() {
        fields.markup
    } else {
        String::new()
    };
    let attachments = PyList::empty(py);
    for attachment in fields.attachments {
        let item = PyDict::new(py);
        item.set_item(intern!(py, "name"), attachment.name)?;
        item.set_item(intern!(py, "content_type"), attachment.content_type)?;
        item.set_item(intern!(py, "size_bytes"), attachment.size_bytes)?;
        item.set_item(intern!(py, "sha256"), attachment.sha256)?;
        attachments.append(item)?;
    }
    let headers = PyDict::new(py);
    for (name, value) in fields.headers {
        headers.set_item(name, value)?;
    }
    let result = PyDict::new(py);
    result.set_item(intern!(py, "message_id"), fields.message_id)?;
    result.set_item(intern!(py, "sent_at"), fields.sent_at)?;
    result.set_item(intern!(py, "from_address"), fields.from_address)?;
    result.set_item(intern!(py, "reply_to"), fields.reply_to)?;
    result.set_item(intern!(py, "to"), fields.to)?;
    result.set_item(intern!(py, "subject"), fields.subject)?;
    result.set_item(intern!(py, "plain"), fields.plain)?;
    result.set_item(intern!(py, "markup"), markup)?;
    result.set_item(intern!(py, "urls"), found)?;
    result.set_item(intern!(py, "attachments"), attachments)?;
    result.set_item(intern!(py, "headers"), headers)?;
    result.set_item(intern!(py, "authentication_results"), fields.authentication_results)?;
    Ok(result)
}

/// The scorer's hot path in Rust (see scorer/features.py and scorer/decode.py).
#[pymodule]
fn scorer_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("FEATURE_NAMES", PyTuple::new(module.py(), FEATURE_NAMES)?)?;
    module.add_function(wrap_pyfunction!(feature_matrix, module)?)?;
    module.add_function(wrap_pyfunction!(phrase_counts, module)?)?;
    module.add_function(wrap_pyfunction!(url_host, module)?)?;
    module.add_function(wrap_pyfunction!(is_lookalike_domain, module)?)?;
    module.add_function(wrap_pyfunction!(find_urls, module)?)?;
    module.add_function(wrap_pyfunction!(parse_rfc822, module)?)?;
    Ok(())
}

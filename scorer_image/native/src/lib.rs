//! `scorer_native`: the feature extraction of the scorefleet scorer, for `scorer.features`.
//!
//! The scorer's hot path turns a batch of `scorer.events.EmailEvent` values into the model's
//! float32 input matrix; `scorer/features.py` is the documented Python face of this module and
//! the only caller. The rules and their word lists live in `rules`, Python's string semantics that
//! they keep in `pystr`, the reading of one event and the column order in `row`. Matrices cross
//! into Python as little-endian `bytearray`s (writable, so NumPy views of them are too).

mod pystr;
mod row;
mod rules;
#[rustfmt::skip]
mod unicode_tables;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyTuple};

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

/// Feature extraction of the scorefleet scorer (see scorer/features.py).
#[pymodule]
fn scorer_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("FEATURE_NAMES", PyTuple::new(module.py(), FEATURE_NAMES)?)?;
    module.add_function(wrap_pyfunction!(feature_matrix, module)?)?;
    module.add_function(wrap_pyfunction!(phrase_counts, module)?)?;
    module.add_function(wrap_pyfunction!(url_host, module)?)?;
    module.add_function(wrap_pyfunction!(is_lookalike_domain, module)?)?;
    Ok(())
}
